"""Per-call authorization: who is calling and may they call this number now.

Pure: the controller gathers an `AuthorizationInput` snapshot (from MariaDB and Redis) and
this module answers with a `Refusal` (SIP code, hangup cause, reason) or None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from controlplane.core.money import ZERO

# Trusted headers stamped by Kamailio (and stripped there when they arrive from outside).
H_ACCOUNT = "X-CP-Account"
H_TENANT = "X-CP-Tenant"
H_AUTH = "X-CP-Auth"
H_CARRIER = "X-CP-Carrier"
AUTH_MODES = ("digest", "ip", "carrier")


@dataclass(frozen=True, slots=True)
class Refusal:
    sip_code: int
    reason: str
    hangup_cause: str

    @property
    def respond(self) -> str:
        """Argument of FreeSWITCH's `respond` application."""
        return f"{self.sip_code} {SIP_REASON.get(self.sip_code, 'Refused')}"


SIP_REASON = {
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 480: "Temporarily Unavailable",
    486: "Busy Here", 503: "Service Unavailable",
}
CAUSE_FOR = {
    402: "OUTGOING_CALL_BARRED", 403: "CALL_REJECTED", 404: "UNALLOCATED_NUMBER",
    480: "NO_USER_RESPONSE", 486: "USER_BUSY", 503: "NORMAL_CIRCUIT_CONGESTION",
}


def refuse(code: int, reason: str) -> Refusal:
    return Refusal(code, reason, CAUSE_FOR.get(code, "CALL_REJECTED"))


@dataclass(frozen=True, slots=True)
class Caller:
    """Who Kamailio says is calling: an account (digest or IP trunk) or a carrier (inbound)."""

    auth: str
    tenant_id: int | None
    account_id: int | None
    carrier_id: int | None


def identify(sip_headers: Mapping[str, str]) -> Caller | Refusal:
    """Read the trusted headers; a call without a complete, well-formed set is refused."""
    auth = (sip_headers.get(H_AUTH) or "").strip().lower()
    if auth not in AUTH_MODES:
        return refuse(403, "untrusted: no X-CP-Auth from the SIP edge")

    def number(name: str) -> int | None:
        value = (sip_headers.get(name) or "").strip()
        return int(value) if value.isdigit() else None

    if auth == "carrier":
        carrier = number(H_CARRIER)
        if carrier is None:
            return refuse(403, "untrusted: carrier call without X-CP-Carrier")
        return Caller(auth, None, None, carrier)
    tenant, account = number(H_TENANT), number(H_ACCOUNT)
    if tenant is None or account is None:
        return refuse(403, "untrusted: account call without X-CP-Tenant / X-CP-Account")
    return Caller(auth, tenant, account, None)


def csv_list(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


@dataclass(frozen=True)
class AuthorizationInput:
    tenant_active: bool
    account_active: bool
    number: str  # normalized E.164 digits
    caller_id: str
    available: Decimal  # credit left for this call after the account's other calls in flight
    first_block_cost: Decimal  # what the first billable block of this call costs
    spent_this_month: Decimal = ZERO
    monthly_cap: Decimal | None = None
    account_calls: int = 0
    account_limit: int | None = None
    tenant_calls: int = 0
    tenant_limit: int | None = None
    restricted_prefixes: Sequence[str] = ()  # the account's own
    blocked_prefixes: Sequence[str] = ()  # global
    callerid_allow: Sequence[str] = ()
    callerid_deny: Sequence[str] = ()
    allowed_countries: Sequence[str] = ()
    denied_countries: Sequence[str] = ()
    free: bool = False  # internal call or an offer: no money check
    extra: Mapping[str, str] = field(default_factory=dict)


def authorize(a: AuthorizationInput) -> Refusal | None:
    """The checks of C-5, cheapest and most specific first; the first failure decides."""
    if not a.tenant_active:
        return refuse(403, "tenant disabled")
    if not a.account_active:
        return refuse(403, "account disabled")
    if any(a.number.startswith(p) for p in a.blocked_prefixes):
        return refuse(403, "destination blocked globally")
    if any(a.number.startswith(p) for p in a.restricted_prefixes):
        return refuse(403, "destination restricted for this account")
    if a.allowed_countries and not any(a.number.startswith(c) for c in a.allowed_countries):
        return refuse(403, "country not allowed")
    if any(a.number.startswith(c) for c in a.denied_countries):
        return refuse(403, "country denied")
    cid = a.caller_id.lstrip("+")
    if any(cid.startswith(p) for p in a.callerid_deny):
        return refuse(403, "caller ID denied")
    if a.callerid_allow and not any(cid.startswith(p) for p in a.callerid_allow):
        return refuse(403, "caller ID not allowed")
    if a.account_limit is not None and a.account_calls >= a.account_limit:
        return refuse(486, "account concurrent-call limit reached")
    if a.tenant_limit is not None and a.tenant_calls >= a.tenant_limit:
        return refuse(486, "tenant concurrent-call limit reached")
    if a.free:
        return None
    if a.monthly_cap is not None and a.spent_this_month + a.first_block_cost > a.monthly_cap:
        return refuse(402, "monthly spend cap reached")
    if a.first_block_cost > a.available:
        return refuse(402, "insufficient credit for the first billing block")
    return None
