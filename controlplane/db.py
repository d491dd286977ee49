"""Engines and sessions for processes that run without Flask (CLI, controller, jobs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from controlplane.settings import get_settings


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    settings = get_settings()
    parsed = make_url(url)
    # PyMySQL negotiates TLS whenever the server offers it; on loopback that only costs a TLS
    # context per connection (about 20 ms), so it is switched off there.
    connect_args = {"ssl_disabled": True} if parsed.host in LOOPBACK else {}
    # A controller runs hundreds of calls as greenlets: the pool must hold enough connections that
    # none is opened per call.
    return create_engine(url, pool_pre_ping=True, pool_recycle=3600, pool_size=settings.db_pool_size,
                         max_overflow=settings.db_pool_overflow, pool_timeout=10, connect_args=connect_args,
                         future=True)


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def get_engine(url: str | None = None) -> Engine:
    return engine_for(url or get_settings().database_url)


@lru_cache(maxsize=8)
def _sessions_for(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def new_session(url: str | None = None) -> Session:
    """A Session on the process's one engine for `url` (the caller closes it)."""
    return _sessions_for(get_engine(url))()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = new_session(url)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ensure_database(url: str) -> bool:
    """Create the database named in `url` if it is missing; True when it was created."""
    parsed = make_url(url)
    name = parsed.database
    server = create_engine(parsed.set(database=""), future=True)
    try:
        with server.connect() as conn:
            exists = conn.exec_driver_sql("SHOW DATABASES LIKE %s", (name,)).first() is not None
            if not exists:
                conn.exec_driver_sql(
                    f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
        return not exists
    finally:
        server.dispose()


def drop_database(url: str) -> None:
    parsed = make_url(url)
    server = create_engine(parsed.set(database=""), future=True)
    try:
        with server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{parsed.database}`")
    finally:
        server.dispose()
        engine_for.cache_clear()
        _sessions_for.cache_clear()
