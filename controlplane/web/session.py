"""The request's Session, on the same engine (controlplane.db) as everything else in the process: one pool,
whether a route reads through it or the CDR push writes through controlplane.cdr_delivery."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from controlplane.db import new_session


def current() -> Session:
    """This request's Session, opened on first use; closed (uncommitted work rolled back) at teardown."""
    if "db_session" not in g:
        g.db_session = new_session(current_app.config["DATABASE_URL"])
        # What a route answers after its commit is read back from MariaDB: money as stored (NUMERIC(20,6)),
        # defaults the database filled in, not the values the request brought.
        g.db_session.expire_on_commit = True
    return g.db_session


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def _close(exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def streamed(produce: Callable[[Session], Iterator[str]]) -> Iterator[str]:
    """A streamed body read through a Session of its own, closed when the stream ends or is dropped.

    Not the request's Session under `stream_with_context`: a client that drops a stream early pops the request
    context out of order, the teardown never runs, and the open transaction then holds its metadata locks
    (a DROP or ALTER waits on it for ever; seen with schemathesis)."""
    url = current_app.config["DATABASE_URL"]

    def body() -> Iterator[str]:
        session = new_session(url)
        try:
            yield from produce(session)
        finally:
            session.close()

    return body()
