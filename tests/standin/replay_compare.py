"""Compare what the stand-in sent with what the real FreeSWITCH sent, value by value.

Everything is compared exactly except the names in NORMALISED, each with the reason it may legitimately
differ between two runs. Uuids are not wildcarded: each recorded uuid is mapped to the stand-in's uuid at
its first appearance, and from then on the same pair must appear together everywhere (a bijection), so a
B-leg uuid where the A leg's belongs fails. Per-run SIP tokens (sipp's pid, FreeSWITCH's To tag, SDP ids,
the RTP port, the SSRC, the session counter) are mapped the same way.

Times: the replay runs the stand-in on a clock aligned with the recording (same epoch, same instants for
every command and far-end action), so instants are compared within TOL_MS, whole-second values exactly
(unless the recorded instant lies within TOL_MS of a second boundary) and whole-second durations
(billsec, duration, ...) exactly: the recorded value, moved only by a second boundary that one of its two
instants (each within TOL_MS of the recording) fell on the other side of in this run - so billsec + 1, or a
billsec taken from the wrong instant, always fails.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from urllib.parse import unquote

TOL_MS = 150  # simulated milliseconds; far below the 1000 ms a whole-second effect would shift a value by

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RFC2822_RE = re.compile(r"[A-Z][a-z]{2},(?: |%20)\d{2}(?: |%20)[A-Z][a-z]{2}(?: |%20)\d{4}(?: |%20)"
                        r"\d{2}(?::|%3A)\d{2}(?::|%3A)\d{2}(?: |%20)(?:\+|%2B)0000")

_DUR_MS = {"mduration", "billmsec", "progressmsec", "answermsec", "waitmsec", "progress_mediamsec",
           "flow_billmsec", "playback_ms"}
_DUR_US = {"uduration", "billusec", "progressusec", "answerusec", "waitusec", "progress_mediausec",
           "flow_billusec"}
_SAMPLES = {"playback_samples", "playback_last_offset_pos"}  # 8 samples per ms at 8 kHz

# name pattern -> (rule, reason). Anything not listed is compared exactly (after the uuid mapping).
NORMALISED: list[tuple[str, str, str]] = [
    (r"Event-Sequence", "sequence",
     "FreeSWITCH's global event counter: its value depends on the node's history. Within a stream it must "
     "increase, and by no more than the recording's delta: the delta counts events fired in between that the "
     "stand-in does not model (CODEC, CHANNEL_CALLSTATE, PRESENCE_IN, PLAYBACK_*, PRIVATE_COMMAND, B-leg "
     "events: i2:329-1801), whose interleaving with the B leg's thread varies between runs (the B leg's "
     "CHANNEL_DESTROY before A's UNPARK in c:1963-2176, after A's CS_HANGUP in i2:6907)"),
    (r"Event-Date-Timestamp|.*-Time|variable_.*_uepoch|variable_sip_invite_stamp", "usec",
     "instants (usec): compared within TOL_MS of the recording on the aligned clock"),
    (r"variable_.*_epoch", "sec",
     "instants (s): must be the stand-in's own *_uepoch in whole seconds, and equal to the recording's unless "
     "the recorded instant lies within TOL_MS of a whole second"),
    (r"Event-Date-Local|Event-Date-GMT|variable_.*_stamp|variable_RFC2822_DATE", "stamp",
     "rendered instants: as 'sec', and must render the stand-in's own instant (local time zone of each machine)"),
    (r"variable_(duration|billsec|progresssec|answersec|waitsec|progress_mediasec|flow_billsec)", "seconds",
     "whole-second durations (differences of whole-second epochs, fact 15): exactly the recorded value, "
     "moved only by a second boundary that one of its two instants (each within TOL_MS of the recording) "
     "fell on the other side of in this run (j2:1765 end .951415: 50 ms of lateness make billsec 2)"),
    (r"variable_(" + "|".join(sorted(_DUR_MS)) + ")", "msec", "millisecond durations: within TOL_MS"),
    (r"variable_(" + "|".join(sorted(_DUR_US)) + ")", "usec_dur", "microsecond durations: within TOL_MS"),
    (r"variable_(" + "|".join(sorted(_SAMPLES)) + ")", "samples", "samples played (8 per ms): within TOL_MS"),
    (r"variable_rtp_audio_(in_skip|out|out_media)_packet_count", "packets",
     "RTP packets, one per 20 ms frame (read ticks while answered, frames played): within TOL_MS"),
    (r"variable_rtp_audio_out_(raw|media)_bytes", "rtp_bytes", "172 bytes per packet counted as above"),
    (r"variable_session_id", "token", "FreeSWITCH's session counter since the process started"),
    (r"variable_sip_call_id|variable_sip_from_tag|variable_sip_full_from|variable_sip_full_via", "token",
     "sipp's pid in its Call-ID, From tag and Via branch"),
    (r"variable_sip_to_tag|variable_sip_full_to", "token", "the random To tag FreeSWITCH gives the dialog"),
    (r"variable_rtp_local_sdp_str|variable_local_media_port", "token",
     "FreeSWITCH's SDP o= session id/version and its RTP port, random per call"),
    (r"variable_rtp_use_ssrc", "token", "the random RTP SSRC"),
    (r"Host", "token", "the CDR receiver's port in mod_json_cdr's Host header: the test's receiver listens on a "
     "free port, not 8086"),
    (r"(any value)", "esl-port", "the port in `socket 127.0.0.1:PORT async full`: the test's ESL application "
     "listens on a free port, not 8084"),
]
# In any value: the ESL application's port in the socket app's argument (the test listens on a free port).
_VALUE_TOKENS = [("esl-port", r"127\.0\.0\.1(?::|%3A)(\d+)(?: |%20)async")]
# Values with an RFC 2822 date inside (the export app's data, RFC2822_DATE in a CDR) compare it as a 'stamp'.

_TOKENS: dict[str, list[tuple[str, str]]] = {
    "variable_session_id": [("session", r"^(\d+)$")],
    "variable_sip_call_id": [("sipp-pid", r"^\d+-(\d+)%40")],
    "variable_sip_from_tag": [("sipp-pid", r"^(\d+)SIPpTag")],
    "variable_sip_full_from": [("sipp-pid", r"tag%3D(\d+)SIPpTag")],
    "variable_sip_full_via": [("sipp-pid", r"z9hG4bK-(\d+)-")],
    "variable_sip_to_tag": [("to-tag", r"^([A-Za-z0-9]+)$")],
    "variable_sip_full_to": [("to-tag", r"tag%3D([A-Za-z0-9]+)$")],
    "variable_rtp_local_sdp_str": [("sdp-id", r"o%3DFreeSWITCH%20(\d+)%20"),
                                   ("sdp-version", r"o%3DFreeSWITCH%20\d+%20(\d+)%20"),
                                   ("rtp-port", r"m%3Daudio%20(\d+)%20")],
    "variable_local_media_port": [("rtp-port", r"^(\d+)$")],
    "variable_rtp_use_ssrc": [("ssrc", r"^(\d+)$")],
    "Host": [("cdr-port", r":(\d+)$")],
}

_RULES = [(re.compile(p + r"\Z"), rule) for p, rule, _ in NORMALISED]


def rule_for(name: str) -> str:
    for rx, rule in _RULES:
        if rx.match(name):
            return rule
    return "exact"


class Bijection:
    """Recorded value <-> stand-in value, fixed at first appearance."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.fwd: dict[str, str] = {}
        self.back: dict[str, str] = {}

    def pair(self, ref: str, got: str) -> str | None:
        """None if consistent, else a description of the clash."""
        if ref in self.fwd or got in self.back:
            if self.fwd.get(ref) == got:
                return None
            return (f"{self.what} {ref} was paired with {self.fwd.get(ref)}, {got} with {self.back.get(got)}; "
                    f"now {ref} meets {got}")
        self.fwd[ref] = got
        self.back[got] = ref
        return None


def _usec(v: str) -> int | None:
    try:
        return int(v)
    except ValueError:
        return None


def _near_boundary(us: int | None, tol_ms: int) -> bool:
    """Does a recorded instant lie within tol of a whole second (so its whole-second rendering may flip)?"""
    if us is None:
        return True
    frac = us % 1_000_000
    return frac < tol_ms * 1000 or frac > 1_000_000 - tol_ms * 1000


# the instants (variable_<name>_uepoch) a whole-second duration is the difference of
_DURATION_FROM = {"duration": ("start", "end"), "billsec": ("answer", "end"), "progresssec": ("start", "progress"),
                  "answersec": ("start", "answer"), "waitsec": ("start", "bridge"),
                  "progress_mediasec": ("start", "progress_media"), "flow_billsec": ("start", "end")}


def _parse_stamp(text: str, local_is_utc: bool) -> int | None:
    text = unquote(text)
    for fmt, zone in (("%Y-%m-%d %H:%M:%S", "local"), ("%a, %d %b %Y %H:%M:%S GMT", "utc"),
                      ("%a, %d %b %Y %H:%M:%S +0000", "utc")):
        try:
            st = time.strptime(text, fmt)
        except ValueError:
            continue
        if zone == "utc" or local_is_utc:
            return calendar.timegm(st)
        return int(time.mktime(st))
    return None


# instant a rendered/whole-second value was taken from, within the same message
def _instants(name: str, ref_h: dict[str, str], got_h: dict[str, str]) -> tuple[int | None, int | None]:
    """The microsecond instant behind a whole-second value, in the recording and in this run."""
    sib = _sibling(name)
    return (next((_usec(ref_h[s]) for s in sib if s in ref_h), None),
            next((_usec(got_h[s]) for s in sib if s in got_h), None))


def _sibling(name: str) -> list[str]:
    if name in ("Event-Date-Local", "Event-Date-GMT"):
        return ["Event-Date-Timestamp"]
    if name == "variable_RFC2822_DATE":
        return ["Caller-Channel-Created-Time", "Channel-Channel-Created-Time", "variable_start_uepoch"]
    m = re.match(r"variable_(.*)_(?:stamp|epoch)\Z", name)
    if m:
        return [f"variable_{m.group(1)}_uepoch"]
    return []


@dataclass
class Stream:
    """One sequence of messages (a connection); keeps the previous Event-Sequence on both sides."""

    name: str
    prev_seq: tuple[int, int] | None = None


@dataclass
class Comparator:
    tol_ms: int = TOL_MS
    problems: list[str] = field(default_factory=list)
    uuids: Bijection = field(default_factory=lambda: Bijection("uuid"))
    tokens: dict[str, Bijection] = field(default_factory=dict)

    def _token(self, cls: str) -> Bijection:
        return self.tokens.setdefault(cls, Bijection(cls))

    def fail(self, ctx: str, text: str) -> None:
        self.problems.append(f"{ctx}: {text}")

    # -------------------------------------------------------------------------------- building blocks
    def map_uuids(self, ctx: str, ref: str, got: str) -> str:
        """Return ref with its uuids replaced by their stand-in partners (pairing new ones by position)."""
        ru, gu = UUID_RE.findall(ref), UUID_RE.findall(got)
        if len(ru) != len(gu):
            return ref  # the exact comparison will show the difference
        for r, g in zip(ru, gu, strict=True):
            clash = self.uuids.pair(r, g)
            if clash:
                self.fail(ctx, clash)
        return UUID_RE.sub(lambda m: self.uuids.fwd.get(m.group(0), m.group(0)), ref)

    def _map_tokens(self, ctx: str, name: str, ref: str, got: str) -> str:
        for cls, pattern in _TOKENS.get(name, []) + _VALUE_TOKENS:
            rm, gm = re.search(pattern, ref), re.search(pattern, got)
            if not rm or not gm:
                continue
            clash = self._token(cls).pair(rm.group(1), gm.group(1))
            if clash:
                self.fail(ctx, clash)
            ref = ref[:rm.start(1)] + gm.group(1) + ref[rm.end(1):]
        return ref

    def _seconds_equal(self, ref_s: int, got_s: int, ref_us: int | None) -> bool:
        if ref_s == got_s:
            return True
        return abs(ref_s - got_s) == 1 and _near_boundary(ref_us, self.tol_ms)

    # -------------------------------------------------------------------------------- values
    def value(self, ctx: str, name: str, ref: str, got: str, ref_h: dict[str, str], got_h: dict[str, str],
              stream: Stream | None = None) -> None:
        rule = rule_for(name)
        where = f"{ctx} {name}"
        if rule == "sequence":
            r, g = _usec(ref), _usec(got)
            if r is None or g is None:
                self.fail(where, f"{got!r} != {ref!r}")
                return
            if stream is not None:
                if stream.prev_seq is not None:
                    dr, dg = r - stream.prev_seq[0], g - stream.prev_seq[1]
                    if dg <= 0:
                        self.fail(where, f"not increasing ({stream.prev_seq[1]} -> {g})")
                    elif dg > dr:
                        self.fail(where, f"sequence delta {dg} > recorded {dr}: events the recording lacks")
                stream.prev_seq = (r, g)
            return
        if rule == "seconds":
            r, g = _usec(ref), _usec(got)
            if r is None or g is None:
                if ref != got:
                    self.fail(where, f"{got!r} != {ref!r}")
                return
            expected = r
            if r != 0:  # an instant of this run on the other side of a second boundary moves the difference
                a, b = _DURATION_FROM[name.removeprefix("variable_")]
                inst = {}
                for side, h in (("ref", ref_h), ("got", got_h)):
                    for i in (a, b):
                        inst[side, i] = _usec(h.get(f"variable_{i}_uepoch", "0")) or 0
                if all(inst.values()):
                    cross = [(inst["got", i] // 1_000_000) - (inst["ref", i] // 1_000_000) for i in (a, b)]
                    expected = r + cross[1] - cross[0]
            if g != expected:
                self.fail(where, f"{g} != {expected} (recorded {r})")
            return
        if rule in ("usec", "msec", "usec_dur", "samples", "packets", "rtp_bytes"):
            r, g = _usec(ref), _usec(got)
            if r is None or g is None:
                if ref != got:
                    self.fail(where, f"{got!r} != {ref!r}")
                return
            scale = {"usec": 1000, "msec": 1, "usec_dur": 1000, "samples": 8, "packets": 1 / 20,
                     "rtp_bytes": 172 / 20}[rule]
            if (r == 0) != (g == 0) or abs(r - g) > self.tol_ms * scale:
                self.fail(where, f"{g} != {r} (tolerance {self.tol_ms * scale})")
            return
        if rule == "sec":
            r, g = _usec(ref), _usec(got)
            if r is None or g is None or (r == 0) != (g == 0):
                if ref != got:
                    self.fail(where, f"{got!r} != {ref!r}")
                return
            ref_us, got_us = _instants(name, ref_h, got_h)
            if not self._seconds_equal(r, g, ref_us):
                self.fail(where, f"{g} != {r}")
            if got_us is not None and g != got_us // 1_000_000:
                self.fail(where, f"{g} is not its own instant {got_us} in seconds")
            return
        if rule == "stamp":
            self._stamp(where, name, ref, got, ref_h, got_h)
            return
        ref = self._map_tokens(where, name, ref, got)
        if RFC2822_RE.search(ref) and RFC2822_RE.search(got):
            rm, gm = RFC2822_RE.search(ref), RFC2822_RE.search(got)
            assert rm and gm
            self._stamp(where, "variable_RFC2822_DATE", rm.group(0), gm.group(0), ref_h, got_h)
            ref = ref[:rm.start()] + gm.group(0) + ref[rm.end():]
        ref = self.map_uuids(where, ref, got)
        if ref != got:
            self.fail(where, f"{got!r} != {ref!r}")

    def _stamp(self, where: str, name: str, ref: str, got: str, ref_h: dict[str, str],
               got_h: dict[str, str]) -> None:
        r = _parse_stamp(ref, local_is_utc=True)  # the recording machine ran on UTC (Event-Date-Local == GMT)
        g = _parse_stamp(got, local_is_utc=False)
        if r is None or g is None:
            if ref != got:
                self.fail(where, f"{got!r} != {ref!r}")
            return
        ref_us, got_us = _instants(name, ref_h, got_h)
        if not self._seconds_equal(r, g, ref_us):
            self.fail(where, f"{unquote(got)!r} != {unquote(ref)!r}")
        if got_us and name != "variable_RFC2822_DATE" and g != got_us // 1_000_000:
            self.fail(where, f"{unquote(got)!r} does not render its own instant {got_us}")

    def headers(self, ctx: str, ref: list[tuple[str, str]], got: list[tuple[str, str]],
                stream: Stream | None = None) -> None:
        """Same names in the same order, then every value."""
        rn, gn = [k for k, _ in ref], [k for k, _ in got]
        if rn != gn:
            missing = [k for k in rn if k not in gn]
            extra = [k for k in gn if k not in rn]
            self.fail(ctx, f"header names differ: missing {missing} extra {extra}"
                      + ("" if missing or extra else " (order)"))
            # still compare the values of the names both have, in order of the recording
            gd = dict(got)
            for k, v in ref:
                if k in gd:
                    self.value(ctx, k, v, gd[k], dict(ref), gd, stream if k == "Event-Sequence" else None)
            return
        rh, gh = dict(ref), dict(got)
        for (k, rv), (_, gv) in zip(ref, got, strict=True):
            self.value(ctx, k, rv, gv, rh, gh, stream)
