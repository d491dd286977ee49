"""The REST API, /api/v1: flask-smorest blueprints over the scoped services.

flask-smorest (marshmallow schemas in, schemas out) generates the OpenAPI document at /api/v1/openapi.json from
the routes themselves; the reference page at /api/v1/docs is Swagger UI from npm (web-assets/), served here.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request, send_from_directory
from flask_smorest import Api as SmorestApi
from werkzeug.exceptions import HTTPException, NotFound

from controlplane.web.api.schemas import ErrorSchema

PREFIX = "/api/v1"


class Api(SmorestApi):
    """flask-smorest with this API's error body: `{"error": "...", "errors": {"field": ["message", ...]}}`."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):  # noqa: ANN201
        if not request.path.startswith(PREFIX):
            return error  # the portal and the CDR push answer as plain Flask does
        body: dict = {"error": error.description if error.code != 422 else "invalid request"}
        data = getattr(error, "data", None) or {}
        messages = data.get("errors") or data.get("messages")
        if messages:
            body["errors"] = _flatten(messages)
        # The exception's own headers (405's Allow, 401's WWW-Authenticate), not its HTML content type.
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return body, error.code, {**headers, **(data.get("headers") or {})}


def _flatten(messages: dict) -> dict:
    """webargs nests errors by location ({"json": {"name": [...]}}): a client wants the field."""
    flat: dict = {}
    for location, errors in messages.items():
        if isinstance(errors, dict) and location in ("json", "query", "form", "headers", "path", "files"):
            flat.update(errors)
        else:
            flat[location] = errors
    return flat


def init_api(app: Flask, assets_dir: str) -> Api:
    app.config.setdefault("API_TITLE", "controlplane")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "/docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", f"{PREFIX}/docs/assets/")
    api = Api(app, spec_kwargs={"info": {"description": "Operators, resellers and tenants: every object in "
                                         "the caller's part of the tenant tree. Authenticate with an API key: "
                                         "`Authorization: Bearer cp_...`."},
                                  "security": [{"apiKey": []}]})
    api.spec.components.security_scheme("apiKey", {"type": "http", "scheme": "bearer"})

    from controlplane.web.api import (
        api_keys,
        audit,
        calls,
        cdrs,
        dids,
        jobs,
        money,
        operator,
        quote,
        sip_accounts,
        tenants,
        users,
    )

    app.url_map.converters["node"] = operator.NodeName  # before the routes that use it
    api.register_converter(operator.NodeName, lambda _converter: {"type": "string"})
    for module in (tenants, users, sip_accounts, dids, money, cdrs, calls, quote, api_keys, audit, operator, jobs):
        api.register_blueprint(module.blp)

    swagger = Path(assets_dir) / "swagger-ui-dist"

    @app.get(f"{PREFIX}/docs/assets/<path:name>")
    def swagger_assets(name: str):  # noqa: ANN202 - the npm-installed Swagger UI, never a CDN
        if not swagger.is_dir():
            raise NotFound("Swagger UI assets are not installed (scripts/bootstrap.sh install)")
        return send_from_directory(swagger, name)

    return api
