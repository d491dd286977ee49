"""mod_json_cdr-style POSTs (j1_json_cdr_http_posts.txt; settings encode-values=true, retries, delay)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from .channel import usec
from .wire import url_encode

if TYPE_CHECKING:  # pragma: no cover
    from .call import Attempt, Call
    from .node import FreeSwitchStandIn

_CAPS = "1=1;2=1;3=1;4=1;5=1;6=1;8=1;9=1;10=1"


def _times(created: float, progress: float | None, pmedia: float | None, answered: float | None,
           bridged: float | None, hangup: float | None) -> dict[str, str]:
    return {"created_time": str(usec(created)), "profile_created_time": str(usec(created)),
            "progress_time": str(usec(progress)), "progress_media_time": str(usec(pmedia)),
            "answered_time": str(usec(answered)), "bridged_time": str(usec(bridged)), "last_hold_time": "0",
            "hold_accum_time": "0", "hangup_time": str(usec(hangup)), "resurrect_time": "0", "transfer_time": "0"}


def _profile(username: str, name: str, number: str, dest: str, uuid: str, chan: str) -> dict:
    return {"username": username, "dialplan": "XML", "caller_id_name": name, "ani": number, "aniii": "",
            "caller_id_number": number, "network_addr": "127.0.0.1", "rdnis": "", "destination_number": dest,
            "uuid": uuid, "source": "mod_sofia", "context": "public", "chan_name": chan}


def post(node: FreeSwitchStandIn, leg_uuid: str, doc: dict) -> bool:
    """POST with retries and delay; on final failure write the JSON to the error directory (j2 notes)."""
    body = json.dumps(doc, separators=(",", ":")).encode()
    url = f"{node.cdr_url}?uuid={leg_uuid}"
    for attempt in range(node.cdr_retries + 1):
        if not node.alive:
            return False
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "User-Agent": "freeswitch-json/1.0", "Accept": "*/*", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=node.cdr_timeout) as resp:
                if 200 <= resp.status < 300:
                    node.cdr_posts.append({"uuid": leg_uuid, "doc": doc, "attempts": attempt + 1})
                    return True
        except (urllib.error.URLError, OSError):
            pass
        if attempt < node.cdr_retries:
            time.sleep(node.clock.real(node.cdr_delay))
    if node.cdr_error_dir:
        os.makedirs(node.cdr_error_dir, exist_ok=True)
        with open(os.path.join(node.cdr_error_dir, f"{leg_uuid}.cdr.json"), "wb") as f:
            f.write(body)
    return False


def post_a_leg(node: FreeSwitchStandIn, call: Call) -> bool:
    ch = call.chan
    p = ch.profile
    doc = {
        "core-uuid": node.info.core_uuid, "switchname": node.hostname,
        "channel_data": {"state": "CS_REPORTING", "direction": "inbound", "state_number": "11",
                         "flags": "0=1;1=1;3=1;22=1;39=1;40=1;42=1;45=1;50=1;55=1;95=1;113=1;114=1;123=1;160=1;"
                                  "165=1;166=1", "caps": _CAPS},
        "variables": {k: url_encode(v) for k, v in ch.vars.items()},
        "app_log": {"applications": [{"app_name": a, "app_data": d or ""} for a, d in call.app_log]},
        "callflow": [{"dialplan": "XML", "profile_index": "1",
                      "caller_profile": _profile(p.username, p.caller_id_name, p.caller_id_number, p.destination,
                                                 p.uuid, p.channel_name),
                      "times": _times(p.created, p.progress, p.progress_media, p.answered, p.bridged, p.hangup)}],
    }
    return post(node, call.uuid, doc)


def post_b_leg(node: FreeSwitchStandIn, call: Call, att: Attempt) -> bool:
    p = call.chan.profile
    hv = [(k, v) for k, v in call.chan.vars.items() if k.startswith("sip_h_")]
    # Variables named in export_vars are copied onto the B leg when it is created (switch_channel_process_export).
    exported = (call.chan.vars.get("export_vars") or "").split(",")
    for full in exported:
        name = full[8:] if full.lower().startswith("nolocal:") else full.removeprefix("_nolocal_")
        val = call.chan.vars.get(full)
        if name and val is not None and name != "RFC2822_DATE":
            hv.append((name, val))
    variables = {"direction": "outbound", "uuid": att.uuid, "call_uuid": att.uuid}
    variables.update({k: v for k, v in hv})
    cause = att.cause or "NORMAL_CLEARING"
    end = att.ended_at or node.clock.now()
    start = end if att.answered_at is None else att.answered_at
    billsec = int(end) - int(att.answered_at) if att.answered_at else 0
    variables.update({"hangup_cause": cause, "billsec": str(billsec), "duration": str(int(end) - int(start)),
                      "sip_term_status": str(att.sip_code or 200)})
    doc = {
        "core-uuid": node.info.core_uuid, "switchname": node.hostname,
        "channel_data": {"state": "CS_REPORTING", "direction": "outbound", "state_number": "11",
                         "flags": "0=1;1=1;2=1;22=1;39=1;40=1;42=1;45=1;50=1;55=1;95=1;107=1;113=1;114=1;123=1;"
                                  "160=1;165=1;166=1", "caps": _CAPS},
        "variables": {k: url_encode(v) for k, v in variables.items()},
        "callflow": [{"dialplan": "XML", "profile_index": "1",
                      "caller_profile": _profile(p.username, p.caller_id_name, p.caller_id_number,
                                                 url_encode(att.endpoint.split("/")[-1].split("@")[0]), att.uuid,
                                                 att.endpoint),
                      "times": _times(start, None, None, att.answered_at, att.answered_at, end)}],
    }
    return post(node, att.uuid, doc)
