"""Keyset pages: a list walks forward from the last id it showed, so rows added meanwhile never shift a page
(as OFFSET would) and page 10,000 costs what page 1 does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Session

T = TypeVar("T")
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_after: int | None  # the id to continue after; None on the last page


def keyset(session: Session, stmt: Select, id_column: ColumnElement, *, after: int | None, limit: int,
           newest_first: bool = False) -> Page:
    """One page of `stmt` ordered by `id_column` (descending when `newest_first`), after id `after`."""
    limit = max(1, min(limit, MAX_LIMIT))
    if after is not None:
        stmt = stmt.where(id_column < after if newest_first else id_column > after)
    stmt = stmt.order_by(id_column.desc() if newest_first else id_column).limit(limit + 1)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more and rows else None)
