"""The web app: one engine per process (the request's Session and the CDR writer share controlplane.db's pool),
health reports MariaDB and Redis, a request's Session is closed at teardown."""

from __future__ import annotations

from controlplane.db import get_engine
from controlplane.web import create_app
from controlplane.web import session as web_session


def test_request_session_uses_the_process_engine(clean_db):
    app = create_app({"TESTING": True})
    with app.test_request_context("/"):
        session = web_session.current()
        assert session.get_bind() is get_engine()
        assert web_session.current() is session  # one per request
    with app.test_request_context("/"):
        assert web_session.current() is not session


def test_health(clean_db):
    client = create_app({"TESTING": True}).test_client()
    reply = client.get("/health")
    assert reply.status_code == 200
    assert reply.get_json() == {"status": "ok", "checks": {"mariadb": "ok", "redis": "ok"}}
