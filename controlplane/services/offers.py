"""Offers: an unlimited package for a tenant (calls to a prefix cost nothing between its start and its end).
Granted from above (the operator, or the reseller above the tenant); rating reads them (services/pricing.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import Invalid, NotFound
from controlplane.models import Offer, Tenant
from controlplane.models.base import utcnow
from controlplane.services import audit
from controlplane.services.scope import Scope

MAX_DAYS = 3660


def _require_above(scope: Scope, tenant: Tenant) -> None:
    scope.require_above(tenant, tenant.id, f"tenant {tenant.id}",
                        "offers are granted by the operator or by the reseller above the tenant")


def list_offers(session: Session, scope: Scope, tenant: Tenant) -> list[Offer]:
    scope.require(tenant, tenant.id, f"tenant {tenant.id}")
    return list(session.scalars(select(Offer).where(Offer.tenant_id == tenant.id).order_by(Offer.id)))


def grant(session: Session, scope: Scope, tenant: Tenant, *, name: str, prefix: str, days: int,
          starts_at: dt.datetime | None = None) -> Offer:
    _require_above(scope, tenant)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 128:
        errors["name"] = "required, at most 128 characters"
    if not (prefix or "").isdigit() or len(prefix) > 32:
        errors["prefix"] = "digits only, at most 32 (an E.164 prefix without +)"
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors["days"] = f"1 to {MAX_DAYS}"
    if errors:
        raise Invalid(errors)
    start = starts_at or utcnow()
    offer = Offer(tenant_id=tenant.id, name=name, prefix=prefix, days=days, starts_at=start,
                  expires_at=start + dt.timedelta(days=days))
    session.add(offer)
    session.flush()
    audit.record(session, scope.actor, "offer.grant", "offer", offer.id, tenant.id,
                 {"name": name, "prefix": prefix, "days": days, "starts_at": start.isoformat()})
    return offer


def end(session: Session, scope: Scope, offer_id: int) -> Offer:
    """End an offer now (calls from now on are rated as usual)."""
    offer = session.get(Offer, offer_id)
    tenant = session.get(Tenant, offer.tenant_id) if offer else None
    if offer is None or not scope.sees(offer.tenant_id):
        raise NotFound(f"offer {offer_id} not found")
    _require_above(scope, tenant)
    now = utcnow()
    if offer.expires_at > now:
        before, offer.expires_at = offer.expires_at, now
        session.flush()
        audit.record(session, scope.actor, "offer.end", "offer", offer.id, tenant.id,
                     {"before": {"expires_at": before.isoformat()}, "after": {"expires_at": now.isoformat()}})
    return offer
