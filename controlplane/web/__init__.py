"""Flask application factory: portal and REST API share one app and one session per request."""

from __future__ import annotations

from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text

from controlplane.errors import DomainError, Invalid, outcome
from controlplane.models import Base
from controlplane.settings import get_settings

db = SQLAlchemy(model_class=Base)


def create_app(overrides: dict | None = None) -> Flask:
    settings = get_settings()
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_recycle": 3600},
        SECRET_KEY=settings.secret_key,
        # mod_json_cdr's `cred` (user:password); empty accepts unauthenticated posts (loopback labs).
        CDR_PUSH_CREDENTIALS=f"{settings.cdr_user}:{settings.cdr_password}" if settings.cdr_user else "",
    )
    app.config.update(overrides or {})
    db.init_app(app)

    from controlplane.web.cdr_push import bp as cdr_push

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
            db.session.execute(text("SELECT 1"))
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
