"""Audit trail of changes to accounts, money, plans and status."""

from __future__ import annotations

from sqlalchemy.orm import Session

from controlplane.models import AuditLog


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
