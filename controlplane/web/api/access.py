"""Who is calling the REST API, what the call may touch, and how often: one decorator on every route.

`@access("cdrs", "read")` authenticates the request, counts it against the caller's rate limit (Redis, through
the `limits` library), checks the grant, and leaves the caller's Scope in `g.scope` for the route to hand to its
service. The requirement is kept on the view, so tests/api/test_matrix.py can read every route's and a route
without one fails there.

Two ways in: an API key (`Authorization: Bearer cp_...`, its grants narrow its owner's role), or the portal's
login session (Flask-Login's, for the portal's own scripts and its CSV links: the user's role alone decides, a
masquerade included), whose writes must carry the session's CSRF token in `X-CSRFToken` (Flask-WTF).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request
from limits import parse as parse_rate
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from controlplane.errors import Forbidden, Invalid, RateLimited, Unauthorized
from controlplane.models.base import utcnow
from controlplane.services import api_keys
from controlplane.services.scope import Scope, for_user
from controlplane.web import session as db_session

ACCESS_ATTR = "cp_access"  # (resource, "read" | "write") on every API view


def _limiter() -> FixedWindowRateLimiter:
    limiter = current_app.extensions.get("cp_limiter")
    if limiter is None:
        storage = RedisStorage(current_app.config["REDIS_URL"], key_prefix=current_app.config["RATE_LIMIT_PREFIX"])
        limiter = current_app.extensions["cp_limiter"] = FixedWindowRateLimiter(storage)
    return limiter


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _check_rate(who: str) -> None:
    rate = parse_rate(current_app.config["API_RATE_LIMIT"])
    limiter = _limiter()
    if not limiter.hit(rate, who):
        reset, _ = limiter.get_window_stats(rate, who)
        raise RateLimited(max(1, int(reset - utcnow().timestamp()) + 1))


def _authenticate() -> Scope:
    """The caller's Scope; `g.grants` what it may touch and `g.user_id` the user behind it."""
    header = request.headers.get("Authorization", "")
    if not header:
        return _portal_session()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an API key is required: Authorization: Bearer <key>")
    session = db_session.current()
    key = api_keys.authenticate(session, token.strip(), request.remote_addr, utcnow())
    if session.dirty:
        session.commit()  # last use is recorded even when the request itself is refused later
    _check_rate(f"apikey:{key.id}")
    g.grants, g.user_id = key.scopes, key.user_id
    return for_user(session, key.user, actor=f"apikey:{key.id}")


def _portal_session() -> Scope:
    """The portal's logged-in user (Flask-Login), as the portal sees it: a masquerade included."""
    from flask_login import current_user
    from flask_wtf.csrf import ValidationError, validate_csrf

    from controlplane.web.portal.context import portal_scope

    if not current_user.is_authenticated:
        raise Unauthorized("an API key is required: Authorization: Bearer <key>")
    if request.method not in SAFE_METHODS:
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except ValidationError:
            raise Forbidden("a portal session's write needs its CSRF token in X-CSRFToken") from None
    user = current_user.user
    _check_rate(f"user:{user.id}")
    g.grants, g.user_id = "*", user.id  # the user's role alone decides
    return portal_scope()


def access(resource: str, level: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Authenticate, rate-limit and require the grant `resource:level` before the view runs."""
    if level not in ("read", "write"):
        raise ValueError(level)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.scope = _authenticate()
            if not api_keys.grants(g.grants, resource, level):
                raise Forbidden(f"this key lacks the scope {resource}:{level}")
            return view(*args, **kwargs)

        setattr(wrapper, ACCESS_ATTR, (resource, level))
        return wrapper

    return decorate


def scope() -> Scope:
    return g.scope


def encode_cursor(after: int | tuple[dt.datetime | None, int] | None) -> str | None:
    """An opaque cursor: the last id a list gave, or (start time, id) for the CDRs."""
    if after is None:
        return None
    if isinstance(after, tuple):
        start, cdr_id = after
        text = f"at:{start.isoformat() if start else ''}|{cdr_id}"
    else:
        text = f"id:{after}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _cursor_text(cursor: str, kind: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        text = ""
    found, _, value = text.partition(":")
    if found != kind:
        raise Invalid({"cursor": ["not a cursor this API gave out"]})
    return value


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    value = _cursor_text(cursor, "id")
    if not value.isdigit():
        raise Invalid({"cursor": ["not a cursor this API gave out"]})
    return int(value)


def decode_position(cursor: str | None) -> tuple[dt.datetime | None, int] | None:
    """A CDR cursor: (start time, id)."""
    if not cursor:
        return None
    start, _, cdr_id = _cursor_text(cursor, "at").partition("|")
    try:
        return (dt.datetime.fromisoformat(start) if start else None), int(cdr_id)
    except ValueError:
        raise Invalid({"cursor": ["not a cursor this API gave out"]}) from None


def page_body(page: Any) -> dict:
    """A service's Page as the API's page body (the route's response schema dumps the items)."""
    return {"items": page.items, "next_cursor": encode_cursor(page.next_after)}


def commit() -> None:
    db_session.current().commit()
