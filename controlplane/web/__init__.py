"""Flask application factory: portal and REST API share one app and one database session per request."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text

from controlplane.errors import Conflict, DomainError, Invalid, RateLimited, outcome
from controlplane.settings import get_settings
from controlplane.web import session as db_session


def create_app(overrides: dict | None = None) -> Flask:
    settings = get_settings()
    app = Flask(__name__)
    app.config.update(
        DATABASE_URL=settings.database_url,
        SECRET_KEY=settings.secret_key,
        # mod_json_cdr's `cred` (user:password); empty accepts unauthenticated posts (loopback labs).
        CDR_PUSH_CREDENTIALS=f"{settings.cdr_user}:{settings.cdr_password}" if settings.cdr_user else "",
        REDIS_URL=settings.redis_url,
        RATE_LIMIT_PREFIX=f"{settings.redis_prefix}ratelimit",
        API_RATE_LIMIT=settings.api_rate_limit,
    )
    app.config.update(overrides or {})
    db_session.init_app(app)

    from controlplane.web.api import init_api
    from controlplane.web.api.cdr_push import bp as cdr_push

    app.register_blueprint(cdr_push)
    init_api(app, settings.web_assets)

    from controlplane.web.portal import init_portal

    init_portal(app, settings.web_assets)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):  # noqa: ANN202
        """Every domain error answers from the one table (controlplane.errors), with its field errors
        (each field a list of messages, as schema validation gives them)."""
        body: dict = {"error": str(exc)}
        if isinstance(exc, (Invalid, Conflict)):
            errors = exc.errors if isinstance(exc.errors, dict) else {"lines": exc.errors}
            body["errors"] = {k: v if isinstance(v, list) else [v] for k, v in errors.items()}
        response = jsonify(body)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, outcome(exc).http_status

    @app.get("/health")
    def health():  # noqa: ANN202
        import redis

        checks = {}
        try:
            db_session.current().execute(text("SELECT 1"))
            checks["mariadb"] = "ok"
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            checks["mariadb"] = f"error: {exc.__class__.__name__}"
        try:
            redis.Redis.from_url(settings.redis_url, socket_timeout=1).ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"error: {exc.__class__.__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return jsonify(status="ok" if healthy else "degraded", checks=checks), 200 if healthy else 503

    return app
