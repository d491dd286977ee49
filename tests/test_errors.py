"""One error table for every front door: the CLI's exit code and the web app's HTTP status come from it."""

from __future__ import annotations

import pytest

from controlplane.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NodeError,
    NotFound,
    RateLimited,
    Unauthorized,
    outcome,
)


class Custom(DomainError):
    pass


@pytest.mark.parametrize(("exc", "exit_code", "status"), [
    (Invalid({"name": "required"}), 2, 400),
    (NotFound("no such tenant"), 3, 404),
    (Custom("something the user can fix"), 2, 400),
    (Forbidden("operators only"), 4, 403),
    (Conflict({"realm": "taken"}), 5, 409),
    (Unauthorized("no key"), 6, 401),
    (RateLimited(3), 7, 429),
    (NodeError("fs-a down"), 1, 503),
])
def test_table(exc, exit_code, status):
    assert (outcome(exc).exit_code, outcome(exc).http_status) == (exit_code, status)


def test_not_a_domain_error_is_refused():
    with pytest.raises(TypeError):
        outcome(ValueError("x"))  # type: ignore[arg-type]


def test_web_answers_domain_errors_from_the_table():
    from controlplane.web import create_app

    app = create_app({"TESTING": True})

    @app.get("/_raise/<kind>")
    def _raise(kind: str):  # noqa: ANN202
        raise {"invalid": Invalid({"amount": "must be positive"}), "missing": NotFound("no such voucher")}[kind]

    client = app.test_client()
    bad = client.get("/_raise/invalid")
    assert bad.status_code == 400
    assert bad.get_json() == {"error": "amount: must be positive", "errors": {"amount": ["must be positive"]}}
    missing = client.get("/_raise/missing")
    assert missing.status_code == 404 and missing.get_json() == {"error": "no such voucher"}


def test_cli_exit_codes_come_from_the_table():
    from click.testing import CliRunner

    from controlplane.cli import main

    result = CliRunner().invoke(main, ["kamailio", "unban", "not-an-ip"])
    assert result.exit_code == outcome(Invalid({})).exit_code
