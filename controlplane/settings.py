"""Process settings, read once from environment variables with local defaults.

One place for every knob so the CLI, controller, web app and tests agree on names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    database_url: str = field(
        default_factory=lambda: _env("DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/controlplane")
    )
    redis_url: str = field(default_factory=lambda: _env("REDIS_URL", "redis://127.0.0.1:6379/0"))
    # Every Redis key starts with this, so test runs and installations sharing a server never collide.
    redis_prefix: str = field(default_factory=lambda: _env("CP_REDIS_PREFIX", "cp:"))
    default_currency: str = field(default_factory=lambda: _env("CP_DEFAULT_CURRENCY", "USD"))
    # Seconds a process trusts its in-memory rate index before asking whether a deck changed.
    deck_check_interval: float = field(default_factory=lambda: float(_env("CP_DECK_CHECK_INTERVAL", "2")))
    kamailio_schema_dir: str = field(
        default_factory=lambda: _env("CP_KAMAILIO_SCHEMA_DIR", "/usr/share/kamailio/mysql")
    )
    web_host: str = field(default_factory=lambda: _env("CP_WEB_HOST", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: int(_env("CP_WEB_PORT", "8080")))
    secret_key: str = field(default_factory=lambda: _env("CP_SECRET_KEY", "dev-only-change-me"))
    # When true, LCR leaves out carriers whose buy rate is above the sell rate.
    # Country code assumed for a tenant that has none set (E.164 normalization of national numbers).
    default_country_code: str = field(default_factory=lambda: _env("CP_COUNTRY_CODE", "1"))
    lcr_skip_unprofitable: bool = field(
        default_factory=lambda: _env("CP_LCR_SKIP_UNPROFITABLE", "0").lower() in ("1", "true", "yes")
    )
    # --- media node (FreeSWITCH) and controller; `controlplane freeswitch render` writes a node's config from these.
    # CP_KAMAILIO_SIP: Kamailio's SIP address host:port; FreeSWITCH takes calls only from it and routes
    # carrier legs through it. CP_KAMAILIO_ACL: extra comma-separated CIDRs Kamailio may send from.
    kamailio_sip: str = field(default_factory=lambda: _env("CP_KAMAILIO_SIP", "127.0.0.1:5060"))
    kamailio_acl: str = field(default_factory=lambda: _env("CP_KAMAILIO_ACL", ""))
    # CP_CONTROLLER_LISTEN: host:port of the outbound-ESL controller (the dialplan's `socket` target).
    controller_listen: str = field(default_factory=lambda: _env("CP_CONTROLLER_LISTEN", "127.0.0.1:8084"))
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


def get_settings() -> Settings:
    """Fresh settings from the current environment (cheap; tests change env between runs)."""
    return Settings()
