"""Audit trail of changes to accounts, money, plans and status."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import Forbidden
from controlplane.models import AuditLog
from controlplane.services.listing import Page, keyset
from controlplane.services.scope import Scope


def record(
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    tenant_id: int | None = None,
    details: dict | None = None,
    note: str | None = None,
) -> AuditLog:
    entry = AuditLog(
        actor=actor, action=action, entity=entity, entity_id=None if entity_id is None else str(entity_id),
        tenant_id=tenant_id, details=details, note=note,
    )
    session.add(entry)
    return entry


def page_audit(session: Session, scope: Scope, *, actor: str | None = None, entity: str | None = None,
               entity_id: str | None = None, action: str | None = None, since: dt.datetime | None = None,
               until: dt.datetime | None = None, after: int | None = None, limit: int = 50) -> Page[AuditLog]:
    """Audit entries the scope sees, newest first; operator-wide entries (no tenant) are for operators only."""
    if scope.user_id is not None:
        raise Forbidden("the audit log is for the tenant's administrators")
    stmt = scope.restrict(select(AuditLog), AuditLog.tenant_id)
    for column, value in ((AuditLog.actor, actor), (AuditLog.entity, entity), (AuditLog.entity_id, entity_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if action is not None:
        stmt = stmt.where(AuditLog.action.like(f"{action}%"))
    if since is not None:
        stmt = stmt.where(AuditLog.at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.at < until)
    return keyset(session, stmt, AuditLog.id, after=after, limit=limit, newest_first=True)
