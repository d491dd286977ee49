"""Errors the domain raises, and the one table adapters use to answer them.

The CLI exits with `outcome(exc).exit_code`, the web app answers with `outcome(exc).http_status`: an
error means the same thing at every front door.
"""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base for errors a user can act on."""


class NotFound(DomainError, LookupError):
    pass


class NodeError(DomainError):
    """A media node could not be reached, or refused a command."""


class Invalid(DomainError):
    """Bad input: `errors` maps a field (or a CSV line) to what is wrong with it."""

    def __init__(self, errors: dict[str, str] | list[str], message: str | None = None) -> None:
        self.errors = errors
        if message is None:
            if isinstance(errors, dict):
                message = "; ".join(f"{k}: {v}" for k, v in errors.items())
            else:
                message = "; ".join(errors)
        super().__init__(message)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    http_status: int


EXIT_FAILURE = 1  # not the user's input: a service down, a command that failed
# Most specific first: the first class an error is an instance of decides.
ERROR_TABLE: tuple[tuple[type[DomainError], Outcome], ...] = (
    (Invalid, Outcome(exit_code=2, http_status=400)),
    (NotFound, Outcome(exit_code=3, http_status=404)),
    (DomainError, Outcome(exit_code=2, http_status=400)),
)


def outcome(exc: DomainError) -> Outcome:
    """How a front door answers `exc` (exit code, HTTP status)."""
    for cls, result in ERROR_TABLE:
        if isinstance(exc, cls):
            return result
    raise TypeError(f"not a domain error: {exc!r}")
