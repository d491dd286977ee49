"""The A-leg channel: ordered channel variables and event construction in FreeSWITCH's header order.

FreeSWITCH keeps channel variables in insertion order and ``switch_channel_set_variable`` deletes and
re-appends, so a re-set variable moves to the end. Events dump that list, which is why the order of
``variable_*`` headers in the transcripts changes as the call progresses (e.g. a:805 vs a:965).
"""

from __future__ import annotations

import random
import string
import time
import uuid as uuidlib
from dataclasses import dataclass, field

from .farend import q850

CALLING = {
    "CHANNEL_DATA": ("mod_event_socket.c", "parse_command", "2021"),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", "2944"),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", "2967"),
    "CHANNEL_PROGRESS": ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value", "3505"),
    "CHANNEL_PROGRESS_MEDIA": ("switch_channel.c", "switch_channel_perform_mark_pre_answered", "3560"),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", "3846"),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", "1689"),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", "1879"),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", "3445"),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", "1213"),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", "2408"),
    "CHANNEL_HANGUP_COMPLETE": ("switch_core_state_machine.c", "switch_core_session_reporting_state", "943"),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", "1572"),
}


def usec(t: float | None) -> int:
    return 0 if not t else int(t * 1_000_000)


def _tag(n: int = 13) -> str:
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(n))


class Vars:
    """Channel variables with FreeSWITCH's delete-and-append semantics."""

    def __init__(self) -> None:
        self._d: dict[str, str] = {}

    def set(self, name: str, value: str | None) -> None:
        self._d.pop(name, None)
        if value is not None:
            self._d[name] = str(value)

    def set_array(self, name: str, items: list[str]) -> None:
        """Array-valued variables are pushed in place (SWITCH_STACK_PUSH): position kept (c:1494)."""
        value = items[0] if len(items) == 1 else "ARRAY::" + "|:".join(items)
        if name in self._d:
            self._d[name] = value
        else:
            self._d[name] = value

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._d.get(name, default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._d.items())

    def __contains__(self, name: str) -> bool:
        return name in self._d


@dataclass
class Profile:
    """A caller profile (Caller-*, Other-Leg-*, and the Channel-* block of CHANNEL_DATA)."""

    direction: str
    logical_direction: str
    username: str
    caller_id_name: str
    caller_id_number: str
    network_addr: str
    destination: str
    uuid: str
    channel_name: str
    created: float
    callee_name: str | None = None
    callee_number: str | None = None
    answered: float | None = None
    progress: float | None = None
    progress_media: float | None = None
    hangup: float | None = None
    bridged: float | None = None
    # The hang-up instant is kept from the hang-up on, but events show it only from CS_REPORTING
    # (a:1196 CHANNEL_HANGUP ... a:1683 CS_HANGUP carry 0, a:1749 CS_REPORTING the instant of a:1140).
    hangup_shown: bool = False
    context: str = "public"  # the dialplan context the profile runs in (an originate's `XML <context>`)

    def headers(self, prefix: str, with_index: bool = True) -> list[tuple[str, str]]:
        p = prefix + "-"
        h = [
            (p + "Direction", self.direction), (p + "Logical-Direction", self.logical_direction),
            (p + "Username", self.username), (p + "Dialplan", "XML"),
            (p + "Caller-ID-Name", self.caller_id_name), (p + "Caller-ID-Number", self.caller_id_number),
            (p + "Orig-Caller-ID-Name", self.caller_id_name), (p + "Orig-Caller-ID-Number", self.caller_id_number),
        ]
        if self.callee_name is not None:
            h += [(p + "Callee-ID-Name", self.callee_name), (p + "Callee-ID-Number", self.callee_number or "")]
        h += [
            (p + "Network-Addr", self.network_addr), (p + "ANI", self.caller_id_number),
            (p + "Destination-Number", self.destination), (p + "Unique-ID", self.uuid),
            (p + "Source", "mod_sofia"), (p + "Context", self.context), (p + "Channel-Name", self.channel_name),
        ]
        if with_index:
            h.append((p + "Profile-Index", "1"))
        h += [
            (p + "Profile-Created-Time", str(usec(self.created))),
            (p + "Channel-Created-Time", str(usec(self.created))),
            (p + "Channel-Answered-Time", str(usec(self.answered))),
            (p + "Channel-Progress-Time", str(usec(self.progress))),
            (p + "Channel-Progress-Media-Time", str(usec(self.progress_media))),
            (p + "Channel-Hangup-Time", str(usec(self.hangup) if self.hangup_shown else 0)),
            (p + "Channel-Transfer-Time", "0"), (p + "Channel-Resurrect-Time", "0"),
            (p + "Channel-Bridged-Time", str(usec(self.bridged))),
            (p + "Channel-Last-Hold", "0"), (p + "Channel-Hold-Accum", "0"),
            (p + "Screen-Bit", "true"), (p + "Privacy-Hide-Name", "false"), (p + "Privacy-Hide-Number", "false"),
        ]
        return h


@dataclass
class NodeInfo:
    core_uuid: str
    hostname: str  # the machine's host name (FreeSWITCH-Hostname)
    switchname: str = ""  # switch.conf.xml `switchname`; FreeSWITCH uses the host name when it is unset
    ipv4: str = "192.0.2.10"
    ipv6: str = "2001:db8::10"
    seq: int = 2000

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


def base_headers(node: NodeInfo, name: str, now: float) -> list[tuple[str, str]]:
    """Common event header prefix (a:31-43)."""
    f, fn, line = CALLING[name]
    lt = time.localtime(now)
    gt = time.gmtime(now)
    return [
        ("Event-Name", name), ("Core-UUID", node.core_uuid),
        ("FreeSWITCH-Hostname", node.hostname), ("FreeSWITCH-Switchname", node.switchname or node.hostname),
        ("FreeSWITCH-IPv4", node.ipv4), ("FreeSWITCH-IPv6", node.ipv6),
        ("Event-Date-Local", time.strftime("%Y-%m-%d %H:%M:%S", lt)),
        ("Event-Date-GMT", time.strftime("%a, %d %b %Y %H:%M:%S GMT", gt)),
        ("Event-Date-Timestamp", str(usec(now))),
        ("Event-Calling-File", f), ("Event-Calling-Function", fn), ("Event-Calling-Line-Number", line),
        ("Event-Sequence", str(node.next_seq())),
    ]


STATE_NUMBER = {"CS_EXECUTE": "4", "CS_HANGUP": "10", "CS_REPORTING": "11"}


@dataclass
class Channel:
    """State of one inbound (A-leg) channel, enough to render every event the transcripts show."""

    node: NodeInfo
    profile: Profile
    socket_arg: str
    vars: Vars = field(default_factory=Vars)
    state: str = "CS_EXECUTE"
    call_state: str = "RINGING"
    answer_state: str = "ringing"
    hangup_cause: str | None = None
    # channel->state runs ahead of the running state named in Channel-State: from the hang-up on it is
    # CS_HANGUP (10) while Channel-State still reads CS_EXECUTE (a:1157-1159)
    state_number: str | None = None
    media: bool = False
    other: Profile | None = None
    bridge_partner: str | None = None
    to_tag: str = field(default_factory=_tag)
    acked: bool = False
    via_branch: int = 0

    @property
    def uuid(self) -> str:
        return self.profile.uuid

    def state_block(self) -> list[tuple[str, str]]:
        p = self.profile
        h = [
            ("Channel-State", self.state), ("Channel-Call-State", self.call_state),
            ("Channel-State-Number", self.state_number or STATE_NUMBER[self.state]), ("Channel-Name", p.channel_name),
            ("Unique-ID", p.uuid), ("Call-Direction", p.direction), ("Presence-Call-Direction", p.direction),
            ("Channel-HIT-Dialplan", "true"), ("Channel-Presence-ID", self.vars.get("presence_id", "")),
            ("Channel-Call-UUID", p.uuid), ("Answer-State", self.answer_state),
        ]
        if self.hangup_cause:
            h.append(("Hangup-Cause", self.hangup_cause))
        if self.media:
            h += [("Channel-Read-Codec-Name", "PCMU"), ("Channel-Read-Codec-Rate", "8000"),
                  ("Channel-Read-Codec-Bit-Rate", "64000"), ("Channel-Write-Codec-Name", "PCMU"),
                  ("Channel-Write-Codec-Rate", "8000"), ("Channel-Write-Codec-Bit-Rate", "64000")]
        return h

    def event_headers(self, name: str, now: float, pre: list[tuple[str, str]] | None = None,
                      tail: list[tuple[str, str]] | None = None, with_vars: bool = True) -> list[tuple[str, str]]:
        """Header list of a channel event in FreeSWITCH order (a:210-327, b:786-983, b:2231-2262)."""
        h = base_headers(self.node, name, now)
        if pre:
            h += pre
        h += self.state_block()
        h += self.profile.headers("Caller")
        if self.other is not None:
            h.append(("Other-Type", "originatee"))
            h += self.other.headers("Other-Leg", with_index=False)
        if with_vars:
            h += [("variable_" + k, v) for k, v in self.vars.items()]
        if tail:
            h += tail
        return h

    def channel_data(self, now: float) -> list[tuple[str, str]]:
        """Header block of the connect reply (a:31-180)."""
        h = base_headers(self.node, "CHANNEL_DATA", now)
        h += self.profile.headers("Channel")
        h += self.state_block()
        h += self.profile.headers("Caller")
        h += [("variable_" + k, v) for k, v in self.vars.items()]
        return h

    # --- variable steps, each copied from a transcript transition -------------------------------------

    def init_vars(self, spec_vars: list[tuple[str, str]]) -> None:
        for k, v in spec_vars:
            self.vars.set(k, v)

    def media_vars(self, for_bridge: bool, local_port: int, far_sdp: str | None = None) -> None:
        """Early media negotiated (a:329 answer app; b:461 far end's media during bridge)."""
        v = self.vars
        if for_bridge:
            v.set("switch_m_sdp", far_sdp or v.get("switch_r_sdp"))
            v.set("video_media_flow", "inactive")
            v.set("text_media_flow", "inactive")
        v.set("rtp_use_codec_string", v.get("rtp_use_codec_string"))
        for k, val in [
            ("remote_video_media_flow", "inactive"), ("remote_text_media_flow", "inactive"),
            ("remote_audio_media_flow", "sendrecv"), ("audio_media_flow", "sendrecv"), ("rtp_audio_recv_pt", "0"),
            ("rtp_use_codec_name", "PCMU"), ("rtp_use_codec_rate", "8000"), ("rtp_use_codec_ptime", "20"),
            ("rtp_use_codec_channels", "1"), ("rtp_last_audio_codec_string", "PCMU@8000h@20i@1c"),
            ("read_codec", "PCMU"), ("original_read_codec", "PCMU"), ("read_rate", "8000"),
            ("original_read_rate", "8000"), ("write_codec", "PCMU"), ("write_rate", "8000"),
            ("dtmf_type", "rfc2833"), ("local_media_ip", "127.0.0.1"), ("local_media_port", str(local_port)),
            ("advertised_media_ip", "127.0.0.1"), ("rtp_use_timer_name", "soft"), ("rtp_use_pt", "0"),
            ("rtp_use_ssrc", str(random.randint(10**8, 2**31))), ("rtp_2833_send_payload", "101"),
            ("rtp_2833_recv_payload", "101"), ("remote_media_ip", "127.0.0.1"), ("remote_media_port", "16000"),
            ("endpoint_disposition", "EARLY MEDIA"),
        ]:
            v.set(k, val)
        self.media = True

    def local_sdp(self, local_port: int) -> None:
        o = random.randint(1795000000, 1795999999)
        sdp = (f"v=0\r\no=FreeSWITCH {o} {o + 1} IN IP4 127.0.0.1\r\ns=FreeSWITCH\r\nc=IN IP4 127.0.0.1\r\n"
               f"t=0 0\r\nm=audio {local_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
               "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n")
        self.vars.set("rtp_local_sdp_str", sdp)

    def ack_vars(self) -> None:
        """The caller's ACK re-sets the dialog variables (a:805, c:1340)."""
        if self.acked:
            return
        self.acked = True
        v = self.vars
        v.set("sip_to_tag", self.to_tag)
        v.set("sip_from_tag", v.get("sip_from_tag"))
        v.set("sip_cseq", "1")
        v.set("sip_call_id", v.get("sip_call_id"))
        via = (v.get("sip_full_via") or "").rsplit("-", 1)[0] + "-15"
        v.set("sip_full_via", via)
        v.set("sip_from_display", v.get("sip_from_display"))
        v.set("sip_full_from", v.get("sip_full_from"))
        v.set("sip_full_to", f"{v.get('sip_full_to')};tag={self.to_tag}")

    def cdr_vars(self, times: dict[str, float | None], last_app: str | None, last_arg: str | None,
                 media_out_ms: int = 0) -> None:
        """Variables added in CS_REPORTING (b:2436-2518); durations from whole-second epochs (fact 15)."""
        v = self.vars
        start, answer, bridge = times["start"], times["answer"], times["bridge"]
        progress, pmedia, end = times["progress"], times["progress_media"], times["end"]
        assert start is not None and end is not None

        def stamp(t: float) -> str:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))

        v.set("hangup_cause", self.hangup_cause)
        v.set("hangup_cause_q850", str(q850(self.hangup_cause or "NORMAL_CLEARING")))
        v.set("digits_dialed", "none")
        v.set("start_stamp", stamp(start))
        v.set("profile_start_stamp", stamp(start))
        for key, t in (("answer", answer), ("bridge", bridge), ("progress", progress),
                       ("progress_media", pmedia)):
            if t:
                v.set(f"{key}_stamp", stamp(t))
        v.set("end_stamp", stamp(end))
        v.set("start_epoch", str(int(start)))
        v.set("start_uepoch", str(usec(start)))
        v.set("profile_start_epoch", str(int(start)))
        v.set("profile_start_uepoch", str(usec(start)))
        for key, t in (("answer", answer), ("bridge", bridge)):
            v.set(f"{key}_epoch", str(int(t)) if t else "0")
            v.set(f"{key}_uepoch", str(usec(t)))
        for k in ("last_hold_epoch", "last_hold_uepoch", "hold_accum_seconds", "hold_accum_usec",
                  "hold_accum_ms", "resurrect_epoch", "resurrect_uepoch"):
            v.set(k, "0")
        for key, t in (("progress", progress), ("progress_media", pmedia), ("end", end)):
            v.set(f"{key}_epoch", str(int(t)) if t else "0")
            v.set(f"{key}_uepoch", str(usec(t)))
        if last_app:
            v.set("last_app", last_app)
            if last_arg:
                v.set("last_arg", last_arg)
        v.set("caller_id", f'"{self.profile.caller_id_name}" <{self.profile.caller_id_number}>')

        def diff(t: float | None, unit: str) -> int:
            if not t:
                return 0
            if unit == "sec":
                return int(t) - int(start)
            if unit == "msec":
                return usec(t) // 1000 - usec(start) // 1000
            return usec(t) - usec(start)

        bill_from = answer
        for unit in ("sec", "msec", "usec"):
            dur = diff(end, unit)
            name_dur = {"sec": "duration", "msec": "mduration", "usec": "uduration"}[unit]
            v.set(name_dur, str(dur))
            if bill_from:
                bill = dur - diff(bill_from, unit)
            else:
                bill = 0
            v.set(f"bill{unit}", str(bill))
            v.set(f"progress{unit}", str(diff(progress, unit)))
            v.set(f"answer{unit}", str(diff(answer, unit)))
            v.set(f"wait{unit}", str(diff(bridge, unit)))
            v.set(f"progress_media{unit}", str(diff(pmedia, unit)))
            v.set(f"flow_bill{unit}", str(dur if answer else 0))
        if "sip_hangup_disposition" not in v:
            v.set("sip_hangup_disposition", "send_bye" if answer else "send_refuse")
        if self.media:
            # No RTP arrives from the caller (sipp sends none): every 20 ms read while answered is a skipped
            # packet (a:1864 152 for billmsec 3040; b 177 for 3540). What playback sent goes out as one
            # 172-byte PCMU packet (160 bytes + RTP header) per 20 ms (a:1891-1894: 150 packets for 3 s).
            answered_ms = diff(end, "msec") - diff(answer, "msec") if answer else 0
            skipped, sent = answered_ms // 20, media_out_ms // 20
            for k, val in [
                ("rtp_audio_in_raw_bytes", "0"), ("rtp_audio_in_media_bytes", "0"),
                ("rtp_audio_in_packet_count", "0"), ("rtp_audio_in_media_packet_count", "0"),
                ("rtp_audio_in_skip_packet_count", str(skipped)), ("rtp_audio_in_jitter_packet_count", "0"),
                ("rtp_audio_in_dtmf_packet_count", "0"), ("rtp_audio_in_cng_packet_count", "0"),
                ("rtp_audio_in_flush_packet_count", "0"), ("rtp_audio_in_largest_jb_size", "0"),
                ("rtp_audio_in_jitter_min_variance", "0.00"), ("rtp_audio_in_jitter_max_variance", "0.00"),
                ("rtp_audio_in_jitter_loss_rate", "0.00"), ("rtp_audio_in_jitter_burst_rate", "0.00"),
                ("rtp_audio_in_mean_interval", "0.00"), ("rtp_audio_in_flaw_total", "0"),
                ("rtp_audio_in_quality_percentage", "100.00"), ("rtp_audio_in_mos", "4.50"),
                ("rtp_audio_out_raw_bytes", str(sent * 172)), ("rtp_audio_out_media_bytes", str(sent * 172)),
                ("rtp_audio_out_packet_count", str(sent)), ("rtp_audio_out_media_packet_count", str(sent)),
                ("rtp_audio_out_skip_packet_count", "0"), ("rtp_audio_out_dtmf_packet_count", "0"),
                ("rtp_audio_out_cng_packet_count", "0"), ("rtp_audio_rtcp_packet_count", "0"),
                ("rtp_audio_rtcp_octet_count", "0"),
            ]:
                v.set(k, val)


def initial_vars(uuid: str, session_id: int, caller_number: str, caller_name: str, destination: str,
                 sip_headers: dict[str, str], now: float,
                 caller_host: str = "127.0.0.1", caller_port: int = 5070, fs_port: int = 5080) -> list[tuple[str, str]]:
    """Channel variables of a fresh inbound sofia channel up to the dialplan, in the order of a:97-169
    (dialplan_apps adds the rest)."""
    # The caller is a sipp UAC: [call_number]-[pid]@[local_ip] as Call-ID, [pid]SIPpTag00[call_number] as From tag
    # and z9hG4bK-[pid]-[call_number]-[message index] as Via branch, one pid for all three (a:108, a:121, a:126).
    pid = random.randint(1000, 99999)
    call_id = f"1-{pid}@{caller_host}"
    from_tag = f"{pid}SIPpTag001"
    stripped = caller_number.lstrip("+")
    sdp = ("v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 16000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
           "a=fmtp:101 0-15\r\n")
    out = [
        ("direction", "inbound"), ("uuid", uuid), ("session_id", str(session_id)),
        ("sip_from_user", caller_number), ("sip_from_port", str(caller_port)),
        ("sip_from_uri", f"{caller_number}@{caller_host}:{caller_port}"), ("sip_from_host", caller_host),
        ("video_media_flow", "disabled"), ("audio_media_flow", "disabled"), ("text_media_flow", "disabled"),
        ("channel_name", f"sofia/internal/{caller_number}@{caller_host}:{caller_port}"),
        ("sip_call_id", call_id), ("sip_local_network_addr", "127.0.0.1"), ("sip_network_ip", caller_host),
        ("sip_network_port", str(caller_port)), ("sip_invite_stamp", str(usec(now))),
        ("sip_received_ip", caller_host), ("sip_received_port", str(caller_port)), ("sip_via_protocol", "udp"),
        ("sip_authorized", "true"), ("sip_acl_authed_by", "domains"), ("sip_from_user_stripped", stripped),
        ("sip_from_tag", from_tag), ("sofia_profile_name", "internal"),
        ("sofia_profile_url", f"sip:mod_sofia@127.0.0.1:{fs_port}"), ("recovery_profile_name", "internal"),
        ("sip_full_via", f"SIP/2.0/UDP {caller_host}:{caller_port};branch=z9hG4bK-{pid}-1-0"),
        ("sip_from_display", caller_name),
        ("sip_full_from", f'"{caller_name}" <sip:{caller_number}@{caller_host}:{caller_port}>;tag={from_tag}'),
        ("sip_full_to", f"<sip:{destination}@127.0.0.1:{fs_port}>"),
        ("sip_req_user", destination), ("sip_req_port", str(fs_port)),
        ("sip_req_uri", f"{destination}@127.0.0.1:{fs_port}"), ("sip_req_host", "127.0.0.1"),
        ("sip_to_user", destination), ("sip_to_port", str(fs_port)),
        ("sip_to_uri", f"{destination}@127.0.0.1:{fs_port}"), ("sip_to_host", "127.0.0.1"),
        ("sip_contact_user", caller_number), ("sip_contact_port", str(caller_port)),
        ("sip_contact_uri", f"{caller_number}@{caller_host}:{caller_port}"), ("sip_contact_host", caller_host),
        ("rtp_use_codec_string", "OPUS,G722,PCMU,PCMA,H264,VP8"), ("sip_user_agent", "sipp-uac-caller"),
        ("sip_via_host", caller_host), ("sip_via_port", str(caller_port)), ("max_forwards", "70"),
        ("presence_id", f"{caller_number}@{caller_host}"),
    ]
    out += [(f"sip_h_{k}", v) for k, v in sip_headers.items()]
    out += [
        ("switch_r_sdp", sdp), ("ep_codec_string", "CORE_PCM_MODULE.PCMU@8000h@20i@64000b"),
        ("endpoint_disposition", "DELAYED NEGOTIATION"), ("call_uuid", uuid),
    ]
    return out


def originated_vars(uuid: str, session_id: int, channel_name: str, originate: dict[str, str], phone_user: str,
                    exten: str, context: str, now: float) -> list[tuple[str, str]]:
    """Channel variables of a leg `originate <leg> <exten> XML <context>` created, as a real 1.10.12 node showed
    them to the socket (2026-12-02): the originate's own `{...}` variables, the INVITE's From (the origination
    caller ID) and To (the phone), and the transfer into the dialplan, which flips the caller ID (the caller
    profile then shows the phone as the caller, the origination caller ID as the callee). Of its 93 variables
    the SDP, RTP and sofia contact ones are not modelled."""
    number = originate.get("origination_caller_id_number", "0000000000")
    name = originate.get("origination_caller_id_name", "FreeSWITCH")
    xfer = f"{int(now)}:{new_uuid()}:bl_xfer:{exten}/{context}/XML"
    out = [("direction", "outbound"), ("is_outbound", "true"), ("uuid", uuid), ("session_id", str(session_id)),
           ("sip_profile_name", channel_name.split("/")[1]), ("channel_name", channel_name)]
    out += [(k, v) for k, v in originate.items()]
    out += [("sofia_profile_name", channel_name.split("/")[1]), ("sip_from_display", name), ("sip_from_user", number),
            ("sip_to_user", phone_user), ("endpoint_disposition", "ANSWER"), ("transfer_history", xfer),
            ("transfer_source", xfer), ("pre_transfer_caller_id_name", name), ("pre_transfer_caller_id_number", number),
            ("channel_cid_flipped", "yes"), ("call_uuid", uuid)]
    return out


def dialplan_apps(socket_arg: str, now: float) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The vanilla `public` context's apps before the socket (g1obs:50-655; j1 a-leg app_log):
    (app, data, variables the app sets)."""
    rfc = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(now))
    return [("set", "outside_call=true", [("outside_call", "true")]),
            ("export", f"RFC2822_DATE={rfc}", [("RFC2822_DATE", rfc), ("export_vars", "RFC2822_DATE")]),
            ("socket", socket_arg, [])]


def new_uuid() -> str:
    return str(uuidlib.uuid4())
