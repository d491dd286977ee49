"""Schemas every resource shares: page arguments, the page envelope, errors. Money is a string of digits
(marshmallow's Decimal as_string), never a JSON float."""

from __future__ import annotations

import datetime as dt
from functools import cache

from marshmallow import Schema, fields, validate

from controlplane.services.listing import MAX_LIMIT


class PageArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))
    cursor = fields.String(load_default=None, metadata={"description": "next_cursor of the previous page"})


@cache
def page_of(item: type[Schema]) -> type[Schema]:
    """The page envelope for `item`: items, and the cursor of the next page (null on the last)."""
    return type(f"{item.__name__.removesuffix('Schema')}PageSchema", (Schema,), {
        "items": fields.List(fields.Nested(item)),
        "next_cursor": fields.String(allow_none=True),
    })


@cache
def list_of(item: type[Schema]) -> type[Schema]:
    """The envelope of a short, unpaged list of `item`."""
    return type(f"{item.__name__.removesuffix('Schema')}ListSchema", (Schema,),
                {"items": fields.List(fields.Nested(item))})


@cache
def status_change_of(key: str, item: type[Schema]) -> type[Schema]:
    """The answer to an enable/disable: the object (under `key`), whether it changed, what the SIP edge did."""
    return type(f"{item.__name__.removesuffix('Schema')}StatusChangeSchema", (Schema,), {
        key: fields.Nested(item), "changed": fields.Boolean(), "edge": fields.Dict(),
    })


def money(**kwargs: object) -> fields.Decimal:
    """Money in and out as a decimal string ("12.500000"): JSON numbers are floats to most clients."""
    metadata = {"type": "string", "format": "decimal", "pattern": r"^-?\d{1,14}(\.\d{1,6})?$",
                **dict(kwargs.pop("metadata", {}))}  # type: ignore[arg-type]
    return fields.Decimal(as_string=True, places=None, metadata=metadata, **kwargs)


class ErrorSchema(Schema):
    error = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), metadata={
        "description": "per field, a list of messages (for a list or nested field: by index or key, the same)"})


class UtcDateTime(fields.DateTime):
    """Times are kept as naive UTC; out they go with their offset (RFC 3339), in they may come with any
    offset (or none: UTC) and are turned into naive UTC for the queries."""

    def _serialize(self, value: dt.datetime | None, attr: str | None, obj: object, **kwargs: object) -> str | None:
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> dt.datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
