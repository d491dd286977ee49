"""All models, importable from one place so Alembic and the apps see the whole metadata."""

from controlplane.models.base import Base
from controlplane.models.carriers import (
    AuthMode,
    Carrier,
    CarrierTrunk,
    TrunkAddress,
    TrunkGroup,
    TrunkGroupMember,
)
from controlplane.models.cdrs import Cdr
from controlplane.models.dids import Did, DidDestination
from controlplane.models.edge import IpListAction, IpListEntry, MediaNode
from controlplane.models.ledger import LedgerEntry, LedgerKind
from controlplane.models.rates import BlockedPrefix, DeckKind, Offer, Plan, PlanDeck, Rate, RateDeck
from controlplane.models.sip import SipAccount, SipAccountKind
from controlplane.models.tenancy import (
    ApiKey,
    AuditLog,
    BillingType,
    IdempotencyKey,
    Role,
    Status,
    Tenant,
    TenantKind,
    TenantRole,
    User,
)

__all__ = [
    "ApiKey",
    "AuditLog",
    "AuthMode",
    "Base",
    "BillingType",
    "BlockedPrefix",
    "Carrier",
    "CarrierTrunk",
    "Cdr",
    "DeckKind",
    "Did",
    "DidDestination",
    "IdempotencyKey",
    "IpListAction",
    "IpListEntry",
    "LedgerEntry",
    "LedgerKind",
    "MediaNode",
    "Offer",
    "Plan",
    "PlanDeck",
    "Rate",
    "RateDeck",
    "Role",
    "SipAccount",
    "SipAccountKind",
    "Status",
    "Tenant",
    "TenantKind",
    "TenantRole",
    "TrunkAddress",
    "TrunkGroup",
    "TrunkGroupMember",
    "User",
]
