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


class Unauthorized(DomainError):
    """No credentials, or ones that do not hold (unknown, expired, revoked, from the wrong address)."""


class Forbidden(DomainError):
    """The caller is known but may not do this (an operator-only action, a key without the scope)."""


class Conflict(DomainError):
    """The input is well formed but names something that exists already (a realm, a username, a prefix)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class RateLimited(DomainError):
    """Too many requests from one caller; it may retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limit exceeded; retry in {retry_after} s")


class Unavailable(DomainError):
    """A part the request needs (the SIP edge, a media node) is down or refused; retrying later may work."""


class NodeError(Unavailable):
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


def refuse(errors: dict[str, str], conflicts: dict[str, str] | None = None) -> None:
    """Raise what a service's field checks found: Invalid when any input is bad (the conflicts listed with it),
    Conflict when the input is good but names something that exists; nothing when both are empty."""
    if errors:
        raise Invalid({**(conflicts or {}), **errors})
    if conflicts:
        raise Conflict(conflicts)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    http_status: int


EXIT_FAILURE = 1  # not the user's input: a service down, a command that failed
# Most specific first: the first class an error is an instance of decides.
ERROR_TABLE: tuple[tuple[type[DomainError], Outcome], ...] = (
    (Invalid, Outcome(exit_code=2, http_status=400)),
    (NotFound, Outcome(exit_code=3, http_status=404)),
    (Forbidden, Outcome(exit_code=4, http_status=403)),
    (Conflict, Outcome(exit_code=5, http_status=409)),
    (Unauthorized, Outcome(exit_code=6, http_status=401)),
    (RateLimited, Outcome(exit_code=7, http_status=429)),
    (Unavailable, Outcome(exit_code=EXIT_FAILURE, http_status=503)),
    (DomainError, Outcome(exit_code=2, http_status=400)),
)


def outcome(exc: DomainError) -> Outcome:
    """How a front door answers `exc` (exit code, HTTP status)."""
    for cls, result in ERROR_TABLE:
        if isinstance(exc, cls):
            return result
    raise TypeError(f"not a domain error: {exc!r}")
