"""Errors the domain raises; adapters turn them into HTTP 400/404 or a CLI message and exit code."""

from __future__ import annotations


class DomainError(Exception):
    """Base for errors a user can act on."""


class NotFound(DomainError, LookupError):
    pass


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
