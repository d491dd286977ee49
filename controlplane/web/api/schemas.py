"""Schemas every resource shares: page arguments, the page envelope, errors. Money is a string of digits
(marshmallow's Decimal as_string), never a JSON float."""

from __future__ import annotations

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


def money(**kwargs: object) -> fields.Decimal:
    return fields.Decimal(as_string=True, places=None, **kwargs)


class ErrorSchema(Schema):
    error = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
