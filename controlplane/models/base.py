"""Declarative base shared by the services, the controller and the web app."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import DateTime, Enum, MetaData, Numeric, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Money and rates: exact NUMERIC, six decimals leaves room below any currency's precision.
Money = Numeric(20, 6, asdecimal=True)
Percent = Numeric(9, 4, asdecimal=True)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, server_default=func.now())


def enum_type(enum_cls: type[enum.Enum]) -> Enum:
    """Store an enum by its value as VARCHAR, so adding a member needs no ALTER of a native ENUM."""
    return Enum(enum_cls, values_callable=lambda e: [m.value for m in e], native_enum=False, length=24)
