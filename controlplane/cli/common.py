"""What every command group shares: error answers, one transaction, decimal options, the edge sync.

Exit codes come from the one table in controlplane.errors (`outcome`), shared with the web app.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from controlplane.errors import EXIT_FAILURE, DomainError, Invalid, NotFound, outcome

__all__ = ["EXIT_FAILURE", "EXIT_INVALID", "EXIT_NOT_FOUND", "_decimal", "_fail", "_session", "_sync_edge",
           "handles_errors"]

EXIT_INVALID = outcome(Invalid({})).exit_code
EXIT_NOT_FOUND = outcome(NotFound()).exit_code


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into one-line messages and distinct exit codes."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            if isinstance(exc, Invalid) and isinstance(exc.errors, list):
                if len(exc.errors) > 1:
                    for line in exc.errors:
                        click.echo(line, err=True)
                _fail(exc.args[0], outcome(exc).exit_code)
            _fail(str(exc), outcome(exc).exit_code)
        except OperationalError as exc:
            _fail(f"database unavailable: {exc.orig}", EXIT_FAILURE)

    return wrapper


def _decimal(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
    if value is None:
        return None
    from controlplane.core.money import to_decimal

    try:
        return to_decimal(value, param.name or "value")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _session():  # noqa: ANN202 - imported lazily so `--help` needs no database driver
    from controlplane.db import session_scope

    return session_scope()


def _sync_edge() -> None:
    """After a committed change Kamailio must know (nodes, carriers, accounts, realms): rewrite its
    tables and reload them. Kamailio down is a warning, not a failure: the tables are written and
    it loads them when it starts."""
    from controlplane.kamailio.tables import sync

    with _session() as s:
        report = sync(s)
    if report.errors:
        click.echo(f"warning: kamailio tables written but not reloaded ({report.errors[0]}); "
                   "run `controlplane kamailio sync` when Kamailio is up", err=True)
