"""A call's record from FreeSWITCH channel variables. Pure.

The controller sets `cp_*` variables on the A leg as it decides (see esl.call_flow), so the
record can be rebuilt from the variables alone: from CHANNEL_HANGUP_COMPLETE by the controller,
or from mod_json_cdr's push by the web app when the controller is gone. Same input, same record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

from controlplane.core.cdr import CallRecord, disposition
from controlplane.core.click_to_call import ORIGIN, V_ACCOUNT, V_CALLER, V_DESTINATION, V_TENANT
from controlplane.core.rating import RateMatch, RatingContext
from controlplane.state.rating_codec import load_match


def _int(value: str | None) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None


def _epoch(value: str | None) -> dt.datetime | None:
    seconds = _int(value)
    if not seconds:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


def profile_times(headers: Mapping[str, str], hung_up_at: float | None = None,
                  answered_at: str = "Caller-Channel-Answered-Time") -> dict[str, str]:
    """The CDR's time variables computed as FreeSWITCH computes them at CS_REPORTING, from the
    caller profile's microsecond times that every channel event carries (`Caller-Channel-*-Time`).

    For a record built before FreeSWITCH reported (its CHANNEL_HANGUP_COMPLETE late or lost):
    FreeSWITCH truncates each time to whole seconds and subtracts (switch_channel.c,
    switch_channel_set_timestamps), so billsec is `end_epoch - answer_epoch`, not the elapsed
    time. FreeSWITCH reports the hang-up time as 0 until it reports; `Hangup-Event-Date-Timestamp`
    (the stamp of the last event sent after the hang-up) stands in for it, and failing that
    `hung_up_at` (epoch seconds, when the controller learned of it). Nothing is returned for a
    channel whose creation or end is unknown, or whose times contradict each other. `answered_at`
    names the time the call counts from (a click-to-call's: Caller-Channel-Bridged-Time).
    """
    created = _int(headers.get("Caller-Channel-Created-Time")) or 0
    answered = _int(headers.get(answered_at)) or 0
    hungup = _int(headers.get("Caller-Channel-Hangup-Time")) or _int(headers.get("Hangup-Event-Date-Timestamp")) or 0
    if not hungup and hung_up_at is not None:
        hungup = int(hung_up_at * 1_000_000)
    if not created or not hungup or hungup < created or (answered and not created <= answered <= hungup):
        return {}
    start, end = created // 1_000_000, hungup // 1_000_000
    times = {"start_epoch": str(start), "end_epoch": str(end), "duration": str(end - start),
             "answer_epoch": "0", "billsec": "0"}
    if answered:
        times["answer_epoch"] = str(answered // 1_000_000)
        times["billsec"] = str(end - answered // 1_000_000)
    return times


def billed_from_bridge(v: Mapping[str, str]) -> dict[str, str]:
    """A click-to-call's variables with its answer moved to the bridge: FreeSWITCH's answer_epoch is when
    the account's own phone picked up, before the far end rang; the call (and its bill) starts when the
    far end answered and was bridged (bridge_epoch, on the A leg). Whole seconds, as FreeSWITCH counts."""
    moved = dict(v)
    bridged, end = _int(v.get("bridge_epoch")) or 0, _int(v.get("end_epoch")) or 0
    moved["answer_epoch"] = str(bridged)
    moved["billsec"] = str(max(end - bridged, 0)) if bridged and end else "0"
    return moved


def sip_code(v: Mapping[str, str]) -> int | None:
    """The SIP status that ended the call: a refusal, a failed INVITE, or the far end's answer."""
    refusal = (v.get("cp_refusal") or "").split(" ", 1)[0]
    if refusal.isdigit():
        return int(refusal)
    for name in ("sip_invite_failure_status", "sip_term_status"):
        if (code := _int(v.get(name))) is not None:
            return code
    proto = v.get("last_bridge_proto_specific_hangup_cause") or ""
    return _int(proto[4:]) if proto.startswith("sip:") else None


def is_b_leg(v: Mapping[str, str]) -> bool:
    """B legs (the carrier side) are not billed on their own: their A leg carries the call."""
    return v.get("direction") == "outbound" and bool(v.get("originator") or v.get("originating_leg_uuid"))


def record_from_variables(
    v: Mapping[str, str], written_by: str, node: str | None = None
) -> tuple[CallRecord, RateMatch | None, RatingContext | None]:
    attempts = json.loads(v["cp_attempts"]) if v.get("cp_attempts") else []
    click = v.get("cp_origin") == ORIGIN or bool(v.get(V_ACCOUNT))  # the originate itself says who it is for
    if click:
        v = billed_from_bridge(v)
    billsec = _int(v.get("billsec")) or 0
    # FreeSWITCH's answer time says it, not billsec: a call answered and ended within one second
    # has billsec 0 (whole seconds subtracted) and was answered all the same (it pays its first block).
    answered = billsec > 0 or bool(_int(v.get("answer_epoch"))) or any(a.get("answered") for a in attempts)
    if answered and attempts and not any(a.get("answered") for a in attempts):
        attempts[-1]["answered"] = True  # set before the bridge that then carried the call
    cause = v.get("hangup_cause")
    last_failed = next((a for a in reversed(attempts) if not a.get("answered")), None)
    code = sip_code(v)
    if code is None and last_failed and not answered:
        code = last_failed.get("sip_code")
    refusal = v.get("cp_refusal")
    record = CallRecord(
        uuid=v["uuid"],
        direction=v.get("cp_direction") or "outbound",
        # A click-to-call whose phone never answered reached no controller: the originate's own variables say
        # whose it was (a real node posts its CDR all the same).
        tenant_id=_int(v.get("cp_tenant_id") or (v.get(V_TENANT) if click else None)),
        sip_account_id=_int(v.get("cp_account_id") or (v.get(V_ACCOUNT) if click else None)),
        caller_id_name=v.get("cp_caller_name") or (None if click else v.get("sip_from_display")),
        caller_id_number=v.get("cp_caller") or (v.get(V_CALLER) if click else v.get("sip_from_user")),
        dialed=v.get("cp_dialed") or (v.get(V_DESTINATION) if click else v.get("sip_req_user")),
        number=v.get("cp_number"),
        start_at=_epoch(v.get("start_epoch")),
        answer_at=_epoch(v.get("answer_epoch")),
        end_at=_epoch(v.get("end_epoch")),
        duration=_int(v.get("duration")) or 0,
        billsec=billsec,
        # A call the controller refused never rang anywhere: FAILED, with the SIP code and reason.
        disposition="FAILED" if refusal else disposition(billsec, answered, (last_failed or {}).get("cause") or cause,
                                                         code),
        sip_code=code,
        hangup_cause=cause,
        reason=refusal.split(" ", 1)[1] if refusal and " " in refusal else (
            "click-to-call: the phone did not answer" if click and not v.get("cp_dialed") else None),
        attempts=attempts,
        trunk_id=next((a.get("trunk_id") for a in attempts if a.get("answered")), None),
        node=node,
        written_by=written_by,
    )
    match = ctx = None
    if v.get("cp_rating") and not refusal:
        match, ctx = load_match(v["cp_rating"])
        record.bill(match, ctx)
    return record, match, ctx
