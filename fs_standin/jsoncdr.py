"""mod_json_cdr-style POSTs (j1_json_cdr_http_posts.txt; settings encode-values=true, retries, delay).

The settings are read from a rendered `json_cdr.conf.xml` (`JsonCdrSettings.from_xml`), so the stand-in
posts as the production config makes a real node post, not as a test would like it to.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .channel import usec
from .wire import url_encode

if TYPE_CHECKING:  # pragma: no cover
    from .call import Attempt, Call
    from .node import FreeSwitchStandIn



@dataclass(frozen=True)
class JsonCdrSettings:
    """What mod_json_cdr.c (v1.10.12) does with each setting that changes the request."""

    url: str
    cred: str = ""  # user:password, sent as basic auth (CURLAUTH_BASIC is the default auth-scheme)
    retries: int = 0  # tries after the first (mod_json_cdr.c: `globals.retries++` after parsing)
    delay: float = 0.0
    timeout: float = 0.0
    # `disable-100-continue` sets CURLOPT_HTTPHEADER to a list holding only `Expect:`, replacing the
    # list that held `Content-Type: application/json`: curl then sends its POSTFIELDS default,
    # `application/x-www-form-urlencoded`, with the raw JSON as the body.
    disable_100_continue: bool = False
    log_b_leg: bool = True  # FreeSWITCH's default
    encode: str = "false"  # false | true (cdr=<url-encoded>) | base64 (cdr=<base64>)
    err_dir: str | None = None

    @classmethod
    def from_xml(cls, path: str | Path) -> JsonCdrSettings:
        params = {p.get("name"): p.get("value") or "" for p in ET.parse(path).getroot().iter("param")}

        def true(name: str, default: bool) -> bool:
            value = params.get(name)
            return default if value is None else value.lower() in ("true", "yes", "on", "1")

        encode = (params.get("encode") or "false").lower()
        return cls(url=params["url"], cred=params.get("cred", ""), retries=int(params.get("retries") or 0),
                   delay=float(params.get("delay") or 0), timeout=float(params.get("timeout") or 0),
                   disable_100_continue=true("disable-100-continue", False), log_b_leg=true("log-b-leg", True),
                   encode="base64" if encode == "base64" else ("true" if true("encode", False) else "false"),
                   err_dir=params.get("err-log-dir"))

    def request(self, leg_uuid: str, body: bytes) -> urllib.request.Request:
        headers = dict(self.headers(body)[0])
        headers.pop("Host")
        return urllib.request.Request(f"{self.url}?uuid={leg_uuid}", data=self.headers(body)[1], method="POST",
                                      headers=headers)

    def headers(self, body: bytes) -> tuple[list[tuple[str, str]], bytes]:
        """The request headers in curl's order (j1_json_cdr_http_posts.txt:22-26: Host, User-Agent, Accept,
        Content-Type, Content-Length; no Expect) and the body. With credentials curl puts Authorization right
        after Host."""
        if self.encode == "true":
            content_type, data = "application/x-www-form-urlencoded", b"cdr=" + url_encode(body.decode()).encode()
        elif self.encode == "base64":
            content_type, data = "application/x-www-form-base64-encoded", b"cdr=" + base64.b64encode(body)
        else:
            content_type, data = "application/json", body
        host = urllib.parse.urlsplit(self.url).netloc
        hdrs = [("Host", host)]
        if self.cred:
            hdrs.append(("Authorization", "Basic " + base64.b64encode(self.cred.encode()).decode()))
        hdrs += [("User-Agent", "freeswitch-json/1.0"), ("Accept", "*/*"),
                 ("Content-Type", "application/x-www-form-urlencoded" if self.disable_100_continue else content_type),
                 ("Content-Length", str(len(data)))]
        return hdrs, data

    def send(self, leg_uuid: str, body: bytes) -> int:
        """One POST with exactly curl's request bytes; returns the HTTP status (raises OSError on failure)."""
        parts = urllib.parse.urlsplit(self.url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout or None)
        try:
            path = (parts.path or "/") + f"?uuid={leg_uuid}"
            conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
            hdrs, data = self.headers(body)
            for k, v in hdrs:
                conn.putheader(k, v)
            conn.endheaders(data)
            return conn.getresponse().status
        except http.client.HTTPException as exc:
            raise OSError(str(exc)) from exc
        finally:
            conn.close()


_CAPS = "1=1;2=1;3=1;4=1;5=1;6=1;8=1;9=1;10=1"


_IN_STATS = ["raw_bytes", "media_bytes", "packet_count", "media_packet_count", "skip_packet_count",
             "jitter_packet_count", "dtmf_packet_count", "cng_packet_count", "flush_packet_count", "largest_jb_size",
             "jitter_min_variance", "jitter_max_variance", "jitter_loss_rate", "jitter_burst_rate", "mean_interval",
             "flaw_total", "quality_percentage", "mos"]
_OUT_STATS = ["raw_bytes", "media_bytes", "packet_count", "media_packet_count", "skip_packet_count",
              "dtmf_packet_count", "cng_packet_count", "rtcp_packet_count", "rtcp_octet_count"]


def call_stats(variables) -> dict:
    """callStats: the rtp_audio_* counters as JSON numbers (j1_json_cdr_a_leg.pretty.json:7-40)."""
    def num(name: str) -> int | float:
        text = variables.get(name) or "0"
        value = float(text)  # cJSON prints 0.00 as 0 and 4.50 as 4.5
        return int(value) if value.is_integer() else value

    return {"audio": {"inbound": {k: num(f"rtp_audio_in_{k}") for k in _IN_STATS},
                      "outbound": {k: num(f"rtp_audio_{'out_' if not k.startswith('rtcp') else ''}{k}")
                                   for k in _OUT_STATS}}}


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


def post(node: FreeSwitchStandIn, leg_uuid: str, doc: dict, before_retry: Callable[[], object] | None = None,
         spent: list[float] | None = None) -> bool:
    """`retries + 1` tries, `delay` apart (5 s when retries are set without one), each one a full
    request; on final failure the JSON goes to the error directory (j2 notes: three `Got error [0]` 1 s apart,
    then the backup file). `before_retry` runs when a try failed and the next one waits. `spent` gets the
    simulated seconds the POST took: the retry delays, plus each request's wall time as it is (a receiver's
    latency is real time, not to be multiplied by the time scale)."""
    settings = node.cdr
    assert settings is not None
    body = json.dumps(doc, separators=(",", ":")).encode()
    delay = settings.delay or (5.0 if settings.retries else 0.0)
    took = 0.0

    def done(ok: bool) -> bool:
        if spent is not None:
            spent.append(took)
        return ok

    for attempt in range(settings.retries + 1):
        if not node.alive:
            return done(False)
        if attempt:
            if before_retry is not None:
                before_retry()
            time.sleep(node.clock.real(delay))
            took += delay
        t0 = time.monotonic()
        try:
            status = settings.send(leg_uuid, body)
            took += time.monotonic() - t0
            if 200 <= status < 300:
                node.cdr_posts.append({"uuid": leg_uuid, "doc": doc, "attempts": attempt + 1,
                                       "content_type": dict(settings.headers(body)[0])["Content-Type"]})
                return done(True)
        except OSError:
            took += time.monotonic() - t0
        node.cdr_failures.append(leg_uuid)
    if settings.err_dir:
        os.makedirs(settings.err_dir, exist_ok=True)
        with open(os.path.join(settings.err_dir, f"{leg_uuid}.cdr.json"), "wb") as f:
            f.write(body)
    return done(False)


def post_a_leg(node: FreeSwitchStandIn, call: Call, before_retry: Callable[[], object] | None = None,
               spent: list[float] | None = None) -> bool:
    ch = call.chan
    p = ch.profile
    doc = {
        "core-uuid": node.info.core_uuid, "switchname": node.switchname,
        "channel_data": {"state": "CS_REPORTING", "direction": "inbound", "state_number": "11",
                         "flags": "0=1;1=1;3=1;22=1;39=1;40=1;42=1;45=1;50=1;55=1;95=1;113=1;114=1;123=1;160=1;"
                                  "165=1;166=1", "caps": _CAPS},
        "callStats": call_stats(ch.vars),
        "variables": {k: url_encode(v) for k, v in ch.vars.items()},
        "app_log": {"applications": [{"app_name": a, "app_data": d or "", "app_stamp": str(usec(t))}
                                     for a, d, t in call.app_log]},
        "callflow": [{"dialplan": "XML", "profile_index": "1",
                      "caller_profile": _profile(p.username, p.caller_id_name, p.caller_id_number, p.destination,
                                                 p.uuid, p.channel_name),
                      "times": _times(p.created, p.progress, p.progress_media, p.answered, p.bridged, p.hangup)}],
    }
    return post(node, call.uuid, doc, before_retry, spent)


def post_b_leg(node: FreeSwitchStandIn, call: Call, att: Attempt) -> bool:
    p = call.chan.profile
    hv = [(k, v) for k, v in call.chan.vars.items() if k.startswith("sip_h_")]
    # Variables named in export_vars are copied onto the B leg when it is created (switch_channel_process_export),
    # export_vars with them (j1_json_cdr_b_leg.pretty.json: export_vars, RFC2822_DATE).
    exports = call.chan.vars.get("export_vars") or ""
    if exports:
        hv.append(("export_vars", exports))
    for full in exports.split(","):
        name = full[8:] if full.lower().startswith("nolocal:") else full.removeprefix("_nolocal_")
        val = call.chan.vars.get(full)
        if name and val is not None:
            hv.append((name, val))
    # the B leg's call_uuid is the A leg's (j1 b-leg call_uuid b5312f0e = the A leg)
    variables = {"direction": "outbound", "uuid": att.uuid, "call_uuid": call.uuid}
    variables.update({k: v for k, v in hv})
    cause = att.cause or "NORMAL_CLEARING"
    end = att.ended_at or node.clock.now()
    start = att.created_at or (end if att.answered_at is None else att.answered_at)
    billsec = int(end) - int(att.answered_at) if att.answered_at else 0
    variables.update({"hangup_cause": cause, "billsec": str(billsec), "duration": str(int(end) - int(start)),
                      "sip_term_status": str(att.sip_code or 200)})
    doc = {
        "core-uuid": node.info.core_uuid, "switchname": node.switchname,
        "channel_data": {"state": "CS_REPORTING", "direction": "outbound", "state_number": "11",
                         "flags": "0=1;1=1;2=1;22=1;39=1;40=1;42=1;45=1;50=1;55=1;95=1;107=1;113=1;114=1;123=1;"
                                  "160=1;165=1;166=1", "caps": _CAPS},
        "variables": {k: url_encode(v) for k, v in variables.items()},
        "callflow": [{"dialplan": "XML", "profile_index": "1",
                      "caller_profile": _profile(p.username, p.caller_id_name, p.caller_id_number,
                                                 url_encode(att.endpoint.split("/")[-1].split("@")[0]), att.uuid,
                                                 att.endpoint),
                      "times": _times(start, att.rang_at, None, att.answered_at, att.answered_at, end)}],
    }
    return post(node, att.uuid, doc)
