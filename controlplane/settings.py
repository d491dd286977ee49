"""Process settings, read once from environment variables with local defaults.

One place for every knob so the CLI, controller, web app and tests agree on names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    database_url: str = field(
        default_factory=lambda: _env("DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/controlplane")
    )
    # Connections kept open per process (a controller wants more: see controlplane/esl/__main__.py).
    db_pool_size: int = field(default_factory=lambda: int(_env("CP_DB_POOL_SIZE", "10")))
    db_pool_overflow: int = field(default_factory=lambda: int(_env("CP_DB_POOL_OVERFLOW", "20")))
    redis_url: str = field(default_factory=lambda: _env("REDIS_URL", "redis://127.0.0.1:6379/0"))
    # Every Redis key starts with this, so test runs and installations sharing a server never collide.
    redis_prefix: str = field(default_factory=lambda: _env("CP_REDIS_PREFIX", "cp:"))
    default_currency: str = field(default_factory=lambda: _env("CP_DEFAULT_CURRENCY", "USD"))
    # Seconds a controller trusts its cached view of accounts, tenants, plans and trunks (money is
    # always read fresh): a change made in the portal applies to new calls within this time.
    decision_cache_ttl: float = field(default_factory=lambda: float(_env("CP_DECISION_CACHE_TTL", "2")))
    # Seconds a process may keep a tenant's balance whose money version has not moved (the version
    # is bumped on every ledger change; this only bounds a reading whose bump never reached Redis).
    money_cache_ttl: float = field(default_factory=lambda: float(_env("CP_MONEY_CACHE_TTL", "5")))
    # Seconds a process trusts its in-memory rate index before asking whether a deck changed.
    deck_check_interval: float = field(default_factory=lambda: float(_env("CP_DECK_CHECK_INTERVAL", "2")))
    kamailio_schema_dir: str = field(
        default_factory=lambda: _env("CP_KAMAILIO_SCHEMA_DIR", "/usr/share/kamailio/mysql")
    )
    # Where CDRs wait when both MariaDB and Redis are unreachable.
    spool_dir: str = field(default_factory=lambda: _env("CP_SPOOL_DIR", "var/spool/cdr"))
    web_host: str = field(default_factory=lambda: _env("CP_WEB_HOST", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: int(_env("CP_WEB_PORT", "8080")))
    secret_key: str = field(default_factory=lambda: _env("CP_SECRET_KEY", "dev-only-change-me"))
    # Requests per API key (or per address when unauthenticated), as the `limits` library writes a rate.
    api_rate_limit: str = field(default_factory=lambda: _env("CP_API_RATE_LIMIT", "600/minute"))
    # The portal: minutes a login session lasts without a request; failed logins that lock an account (per
    # email) or an address (per IP) for `login_lock_minutes`, counted over that many minutes.
    portal_session_minutes: int = field(default_factory=lambda: int(_env("CP_PORTAL_SESSION_MINUTES", "60")))
    login_max_failures: int = field(default_factory=lambda: int(_env("CP_LOGIN_MAX_FAILURES", "5")))
    login_ip_max_failures: int = field(default_factory=lambda: int(_env("CP_LOGIN_IP_MAX_FAILURES", "20")))
    login_lock_minutes: int = field(default_factory=lambda: int(_env("CP_LOGIN_LOCK_MINUTES", "15")))
    # Self sign-up (a new client tenant below the operator, with CP_SIGNUP_PLAN) and mail for it and resets.
    signup: bool = field(default_factory=lambda: _env("CP_SIGNUP", "1").lower() in ("1", "true", "yes"))
    signup_plan: str = field(default_factory=lambda: _env("CP_SIGNUP_PLAN", ""))
    smtp_host: str = field(default_factory=lambda: _env("CP_SMTP_HOST", "127.0.0.1"))
    smtp_port: int = field(default_factory=lambda: int(_env("CP_SMTP_PORT", "25")))
    smtp_user: str = field(default_factory=lambda: _env("CP_SMTP_USER", ""))
    smtp_password: str = field(default_factory=lambda: _env("CP_SMTP_PASSWORD", ""))
    smtp_starttls: bool = field(default_factory=lambda: _env("CP_SMTP_STARTTLS", "0").lower() in ("1", "true", "yes"))
    mail_from: str = field(default_factory=lambda: _env("CP_MAIL_FROM", "controlplane@localhost"))
    # Where the browser dialer's SIP library connects (wss://host:port); default: the portal's host name and
    # Kamailio's WSS port.
    webphone_ws_url: str = field(default_factory=lambda: _env("CP_WEBPHONE_WS_URL", ""))
    # Seconds a click-to-call rings the account's phone before the media node gives up (nothing is billed).
    click_to_call_ring_seconds: int = field(default_factory=lambda: int(_env("CP_C2C_RING_SECONDS", "30")))
    # npm-installed browser assets (web-assets/node_modules, installed by scripts/bootstrap.sh).
    web_assets: str = field(default_factory=lambda: _env(
        "CP_WEB_ASSETS", str(Path(__file__).resolve().parents[1] / "web-assets" / "node_modules")))
    # When true, LCR leaves out carriers whose buy rate is above the sell rate.
    # Country code assumed for a tenant that has none set (E.164 normalization of national numbers).
    default_country_code: str = field(default_factory=lambda: _env("CP_COUNTRY_CODE", "1"))
    lcr_skip_unprofitable: bool = field(
        default_factory=lambda: _env("CP_LCR_SKIP_UNPROFITABLE", "0").lower() in ("1", "true", "yes")
    )
    # --- media node (FreeSWITCH) and controller; `controlplane freeswitch render` writes a node's config from these.
    # FreeSWITCH takes calls only from Kamailio (`kamailio_sip`, below) and CP_KAMAILIO_ACL:
    # extra comma-separated CIDRs Kamailio may send from.
    kamailio_acl: str = field(default_factory=lambda: _env("CP_KAMAILIO_ACL", ""))
    # CP_WEB_URL: base URL of the web app; FreeSWITCH posts CDRs to <CP_WEB_URL>/api/v1/cdr/freeswitch.
    web_url: str = field(default_factory=lambda: _env("CP_WEB_URL", "http://127.0.0.1:8080"))
    # CP_FREESWITCH_SIP_IP / CP_FREESWITCH_SIP_PORT: where the node's one SIP profile listens.
    freeswitch_sip_ip: str = field(default_factory=lambda: _env("CP_FREESWITCH_SIP_IP", "127.0.0.1"))
    freeswitch_sip_port: int = field(default_factory=lambda: int(_env("CP_FREESWITCH_SIP_PORT", "5080")))
    # CP_ESL_PORT / CP_ESL_PASSWORD: the node's inbound event socket (always on loopback).
    esl_port: int = field(default_factory=lambda: int(_env("CP_ESL_PORT", "8021")))
    esl_password: str = field(default_factory=lambda: _env("CP_ESL_PASSWORD", "ClueCon"))
    # CP_CDR_USER / CP_CDR_PASSWORD: HTTP basic credentials FreeSWITCH sends with its CDR posts (none if unset).
    cdr_user: str = field(default_factory=lambda: _env("CP_CDR_USER", ""))
    cdr_password: str = field(default_factory=lambda: _env("CP_CDR_PASSWORD", ""))
    # CP_NODE_NAME: the node's switchname (shows in CDRs and `show channels`).
    node_name: str = field(default_factory=lambda: _env("CP_NODE_NAME", "fs-node-1"))

    # --- call controller -----------------------------------------------------------------------
    controller_host: str = field(default_factory=lambda: _env("CP_CONTROLLER_HOST", "127.0.0.1"))
    controller_port: int = field(default_factory=lambda: int(_env("CP_CONTROLLER_PORT", "8084")))
    # Call seconds per real second (tests run long calls fast); every controller must agree.
    time_scale: float = field(default_factory=lambda: float(_env("CP_TIME_SCALE", "1")))
    # Seconds before a balance cut to play the warning tone; 0 turns it off.
    warn_seconds: int = field(default_factory=lambda: int(_env("CP_WARN_SECONDS", "0")))
    warn_tone: str = field(default_factory=lambda: _env("CP_WARN_TONE", "tone_stream://%(500,500,480);loops=2"))
    # FreeSWITCH nodes' inbound ESL: "name=host:port:password;name2=..." (name = the node's switchname).
    fs_nodes: str = field(default_factory=lambda: _env("CP_FS_NODES", "fs-node-1=127.0.0.1:8021:ClueCon"))
    sync_interval: float = field(default_factory=lambda: float(_env("CP_SYNC_INTERVAL", "10")))
    # A node that has not answered for this long has its calls closed and billed.
    node_lost_after: float = field(default_factory=lambda: float(_env("CP_NODE_LOST_AFTER", "30")))
    # Kamailio's SIP address (host:port) that every FreeSWITCH leg is sent through (fs_path);
    # default: the edge's own advertised address and SIP port. "direct" sends legs straight out.
    kamailio_sip_override: str = field(default_factory=lambda: _env("CP_KAMAILIO_SIP", ""))
    # The one SIP profile of freeswitch-conf/ (legs are dialled as sofia/<profile>/...).
    fs_profile: str = field(default_factory=lambda: _env("CP_FS_PROFILE", "controlplane"))
    leg_timeout: int = field(default_factory=lambda: int(_env("CP_LEG_TIMEOUT", "60")))
    controller_metrics_port: int = field(default_factory=lambda: int(_env("CP_CONTROLLER_METRICS_PORT", "0")))
    # --- SIP edge (Kamailio); `controlplane kamailio render` turns these into the config ---
    kamailio_bin: str = field(default_factory=lambda: _env("CP_KAMAILIO_BIN", "kamailio"))
    # Rendered config, TLS certificate and pid file go here.
    kamailio_run_dir: str = field(default_factory=lambda: _env("CP_KAMAILIO_RUN_DIR", "var/kamailio"))
    kamailio_listen_ip: str = field(default_factory=lambda: _env("CP_KAMAILIO_LISTEN_IP", "127.0.0.1"))
    # Address put in Via/Record-Route/Contact (public IP behind 1:1 NAT); default: listen_ip.
    kamailio_advertise: str = field(default_factory=lambda: _env("CP_KAMAILIO_ADVERTISE", ""))
    kamailio_sip_port: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_SIP_PORT", "5060")))
    kamailio_tls_port: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_TLS_PORT", "5061")))
    kamailio_ws_port: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_WS_PORT", "5066")))
    kamailio_wss_port: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_WSS_PORT", "7443")))
    kamailio_rpc_ip: str = field(default_factory=lambda: _env("CP_KAMAILIO_RPC_IP", "127.0.0.1"))
    kamailio_rpc_port: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_RPC_PORT", "5071")))
    # Kamailio's own DB URL (mysql://...); default: derived from DATABASE_URL.
    kamailio_db_url: str = field(default_factory=lambda: _env("CP_KAMAILIO_DB_URL", ""))
    # TLS certificate and key; when empty a self-signed pair is generated in the run dir.
    kamailio_tls_cert: str = field(default_factory=lambda: _env("CP_KAMAILIO_TLS_CERT", ""))
    kamailio_tls_key: str = field(default_factory=lambda: _env("CP_KAMAILIO_TLS_KEY", ""))
    kamailio_children: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_CHILDREN", "8")))
    kamailio_tcp_children: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_TCP_CHILDREN", "4")))
    # Dispatcher set holding the FreeSWITCH nodes, and how often they are probed (s).
    kamailio_fs_setid: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_FS_SETID", "1")))
    kamailio_ds_ping_interval: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_DS_PING_INTERVAL", "10")))
    kamailio_ds_probing_threshold: int = field(
        default_factory=lambda: int(_env("CP_KAMAILIO_DS_PROBING_THRESHOLD", "2"))
    )
    # ms without a provisional reply before a media node counts as failed.
    kamailio_fr_timer: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_FR_TIMER", "3000")))
    # N failed authentications within WINDOW seconds ban the source for BAN_TIME seconds.
    kamailio_ban_fails: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_BAN_FAILS", "5")))
    kamailio_ban_window: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_BAN_WINDOW", "60")))
    kamailio_ban_time: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_BAN_TIME", "300")))
    # The slow guesser: LONG_BAN_FAILS strikes within LONG_BAN_WINDOW seconds ban for LONG_BAN_TIME.
    kamailio_long_ban_fails: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_LONG_BAN_FAILS", "20")))
    kamailio_long_ban_window: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_LONG_BAN_WINDOW", "3600")))
    kamailio_long_ban_time: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_LONG_BAN_TIME", "86400")))
    # Seconds an idle TCP/TLS/WS connection stays open (a registered phone's lives as long as its
    # registration); seconds a dialog is remembered for in-dialog checks.
    kamailio_tcp_lifetime: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_TCP_LIFETIME", "120")))
    kamailio_dialog_timeout: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_DIALOG_TIMEOUT", "43200")))
    # Host firewall (nftables) in front of the SIP TCP/TLS/WS/WSS ports: open connections and new
    # connections per second from one source address; `bootstrap.sh up` applies it when set.
    kamailio_tcp_per_source: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_TCP_PER_SOURCE", "128")))
    kamailio_tcp_new_rate: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_TCP_NEW_RATE", "50")))
    kamailio_firewall: bool = field(
        default_factory=lambda: _env("CP_KAMAILIO_FIREWALL", "1").lower() in ("1", "true", "yes")
    )
    # Server/User-Agent headers name the product only; 1 adds Kamailio's version.
    kamailio_show_version: bool = field(
        default_factory=lambda: _env("CP_KAMAILIO_SHOW_VERSION", "0").lower() in ("1", "true", "yes")
    )
    # pike: more than DENSITY requests per SAMPLING seconds from one source is a flood.
    kamailio_pike_sampling: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_PIKE_SAMPLING", "2")))
    kamailio_pike_density: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_PIKE_DENSITY", "64")))
    kamailio_natping_interval: int = field(default_factory=lambda: int(_env("CP_KAMAILIO_NATPING_INTERVAL", "30")))
    # Feature switches (WITH_* defines); auth off is only for the no-auth benchmark.
    kamailio_auth: bool = field(default_factory=lambda: _env("CP_KAMAILIO_AUTH", "1").lower() in ("1", "true", "yes"))
    kamailio_antiflood: bool = field(
        default_factory=lambda: _env("CP_KAMAILIO_ANTIFLOOD", "1").lower() in ("1", "true", "yes")
    )
    kamailio_tls: bool = field(default_factory=lambda: _env("CP_KAMAILIO_TLS", "1").lower() in ("1", "true", "yes"))
    kamailio_websockets: bool = field(
        default_factory=lambda: _env("CP_KAMAILIO_WEBSOCKETS", "1").lower() in ("1", "true", "yes")
    )
    kamailio_uac: bool = field(default_factory=lambda: _env("CP_KAMAILIO_UAC", "1").lower() in ("1", "true", "yes"))
    # JSON-RPC client timeout (s): an unreachable Kamailio fails fast.
    kamailio_rpc_timeout: float = field(default_factory=lambda: float(_env("CP_KAMAILIO_RPC_TIMEOUT", "3")))
    # --- media relay (rtpengine, user-space forwarding) driven by Kamailio's rtpengine module (WITH_RTPENGINE):
    # WebRTC (DTLS-SRTP, ICE, rtcp-mux) on the browser side, plain RTP toward the media nodes, and RTP anchored
    # for phones behind NAT. Off: the edge never touches SDP.
    kamailio_rtpengine: bool = field(
        default_factory=lambda: _env("CP_KAMAILIO_RTPENGINE", "1").lower() in ("1", "true", "yes")
    )
    rtpengine_bin: str = field(default_factory=lambda: _env("CP_RTPENGINE_BIN", "rtpengine"))
    # Pid file goes here (the log is var/rtpengine.log when `bootstrap.sh up` starts it).
    rtpengine_run_dir: str = field(default_factory=lambda: _env("CP_RTPENGINE_RUN_DIR", "var/rtpengine"))
    # ip:port of rtpengine's control protocol (ng, UDP); keep it on loopback or a private address.
    rtpengine_ng: str = field(default_factory=lambda: _env("CP_RTPENGINE_NG", "127.0.0.1:2223"))
    # Local address RTP is relayed on, and the address put in SDP when it differs (public IP behind 1:1 NAT).
    rtpengine_ip: str = field(default_factory=lambda: _env("CP_RTPENGINE_IP", "127.0.0.1"))
    rtpengine_advertise: str = field(default_factory=lambda: _env("CP_RTPENGINE_ADVERTISE", ""))
    # RTP/RTCP port range (each relayed stream takes an even/odd pair per side).
    rtpengine_port_min: int = field(default_factory=lambda: int(_env("CP_RTPENGINE_PORT_MIN", "30000")))
    rtpengine_port_max: int = field(default_factory=lambda: int(_env("CP_RTPENGINE_PORT_MAX", "40000")))

    @property
    def controller_listen(self) -> str:
        """host:port of the outbound-ESL controller: the dialplan's `socket` target."""
        return f"{self.controller_host}:{self.controller_port}"

    @property
    def kamailio_sip(self) -> str:
        if self.kamailio_sip_override == "direct":
            return ""
        edge = self.kamailio_advertise or self.kamailio_listen_ip
        return self.kamailio_sip_override or f"{edge}:{self.kamailio_sip_port}"

    @property
    def kamailio_rpc_url(self) -> str:
        return f"http://{self.kamailio_rpc_ip}:{self.kamailio_rpc_port}/RPC"

    @property
    def rtpengine_interface(self) -> str:
        """rtpengine's --interface: the local address, `!advertised` when it differs."""
        if self.rtpengine_advertise and self.rtpengine_advertise != self.rtpengine_ip:
            return f"{self.rtpengine_ip}!{self.rtpengine_advertise}"
        return self.rtpengine_ip


_cached: tuple[int, Settings] | None = None


def get_settings() -> Settings:
    """Settings for the current environment: rebuilt only when the environment changed (tests
    change it), so hot paths can call this freely."""
    global _cached
    fingerprint = hash(frozenset(os.environ.items()))
    if _cached is None or _cached[0] != fingerprint:
        _cached = (fingerprint, Settings())
    return _cached[1]
