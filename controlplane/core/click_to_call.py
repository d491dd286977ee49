"""Click-to-call: the media node rings the account's phone first, then hands the answered leg to the
controller, which decides and bridges it like a call the phone dialled. Pure.

The originate command carries who the call is for in channel variables. They are trusted because only
an inbound ESL client (which knows the node's password) can set them before the dialplan runs: nothing a
SIP peer sends becomes a `cp_c2c_*` variable (FreeSWITCH maps SIP headers to `sip_h_*` and the like), and
the leg must be one the node originated (`Call-Direction: outbound`), never a call that came in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controlplane.core.authorization import Caller

ORIGIN = "click-to-call"  # `cp_origin` on the channel: the record bills from the bridge
AUTH = "api"  # the Caller's auth mode: not a SIP authentication, the API's scoped request
V_ACCOUNT, V_TENANT, V_DESTINATION, V_CALLER = "cp_c2c_account", "cp_c2c_tenant", "cp_c2c_destination", "cp_c2c_caller"
DIALPLAN_CONTEXT = "controlplane"  # the rendered dialplan's one context: the `socket` to the controller


@dataclass(frozen=True, slots=True)
class ClickToCall:
    caller: Caller
    destination: str
    caller_id: str


def originate_command(uuid: str, account_id: int, tenant_id: int, destination: str, caller_id: str,
                      phone_leg: str, ring_seconds: int) -> str:
    """The `originate` a node runs: ring `phone_leg`; once answered, the leg enters the dialplan with
    `destination` as its number (so the controller gets it through the usual `socket`). The phone shows
    the number it is about to be connected to."""
    for name, value in (("destination", destination), ("caller_id", caller_id)):
        if not value or any(not (ch.isascii() and (ch.isalnum() or ch in "+*#-_.")) for ch in value):
            raise ValueError(f"{name} {value!r} cannot go into a dial string")
    variables = ",".join((
        f"origination_uuid={uuid}", f"{V_ACCOUNT}={account_id}", f"{V_TENANT}={tenant_id}",
        f"{V_DESTINATION}={destination}", f"{V_CALLER}={caller_id}", f"originate_timeout={ring_seconds}",
        f"origination_caller_id_number={destination}", "origination_caller_id_name=Click-to-call",
        "ignore_early_media=true",
    ))
    return f"originate {{{variables}}}{phone_leg} {destination} XML {DIALPLAN_CONTEXT}"


def click_to_call_of(channel: Mapping[str, str]) -> ClickToCall | None:
    """The click-to-call an ESL connect's channel data describes, or None (an ordinary call)."""
    def var(name: str) -> str:
        return (channel.get(f"variable_{name}") or "").strip()

    account, tenant = var(V_ACCOUNT), var(V_TENANT)
    if not account and not tenant:
        return None
    if channel.get("Call-Direction") != "outbound" or not account.isdigit() or not tenant.isdigit():
        return None  # not a leg the node originated for us: treated (and refused) as an untrusted call
    return ClickToCall(Caller(AUTH, int(tenant), int(account), None), var(V_DESTINATION), var(V_CALLER))
