"""Flask application factory: portal and REST API share one app and one session per request."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text

from controlplane.errors import DomainError, Invalid, outcome
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
    )
    app.config.update(overrides or {})
    db_session.init_app(app)

    from controlplane.web.api.cdr_push import bp as cdr_push

    app.register_blueprint(cdr_push)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):  # noqa: ANN202
        """Every domain error answers from the one table (controlplane.errors), with its field errors."""
        body: dict = {"error": str(exc)}
        if isinstance(exc, Invalid):
            body["errors"] = exc.errors
        return jsonify(body), outcome(exc).http_status

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
