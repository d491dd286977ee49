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
    # Where CDRs wait when both MariaDB and Redis are unreachable.
    spool_dir: str = field(default_factory=lambda: _env("CP_SPOOL_DIR", "var/spool/cdr"))
    # user:password FreeSWITCH's mod_json_cdr must send (its `cred` setting); empty accepts any.
    cdr_push_credentials: str = field(default_factory=lambda: _env("CP_CDR_PUSH_CREDENTIALS", ""))
    web_host: str = field(default_factory=lambda: _env("CP_WEB_HOST", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: int(_env("CP_WEB_PORT", "8080")))
    secret_key: str = field(default_factory=lambda: _env("CP_SECRET_KEY", "dev-only-change-me"))
    # When true, LCR leaves out carriers whose buy rate is above the sell rate.
    # Country code assumed for a tenant that has none set (E.164 normalization of national numbers).
    default_country_code: str = field(default_factory=lambda: _env("CP_COUNTRY_CODE", "1"))
    lcr_skip_unprofitable: bool = field(
        default_factory=lambda: _env("CP_LCR_SKIP_UNPROFITABLE", "0").lower() in ("1", "true", "yes")
    )

    # --- call controller -----------------------------------------------------------------------
    controller_host: str = field(default_factory=lambda: _env("CP_CONTROLLER_HOST", "127.0.0.1"))
    controller_port: int = field(default_factory=lambda: int(_env("CP_CONTROLLER_PORT", "8084")))
    # Call seconds per real second (tests run long calls fast); every controller must agree.
    time_scale: float = field(default_factory=lambda: float(_env("CP_TIME_SCALE", "1")))
    # Seconds before a balance cut to play the warning tone; 0 turns it off.
    warn_seconds: int = field(default_factory=lambda: int(_env("CP_WARN_SECONDS", "0")))
    warn_tone: str = field(default_factory=lambda: _env("CP_WARN_TONE", "tone_stream://%(500,500,480);loops=2"))
    # FreeSWITCH nodes' inbound ESL: "name=host:port:password;name2=..." (name = FreeSWITCH-Hostname).
    fs_nodes: str = field(default_factory=lambda: _env("CP_FS_NODES", "fs-node-1=127.0.0.1:8021:ClueCon"))
    sync_interval: float = field(default_factory=lambda: float(_env("CP_SYNC_INTERVAL", "10")))
    # A node that has not answered for this long has its calls closed and billed.
    node_lost_after: float = field(default_factory=lambda: float(_env("CP_NODE_LOST_AFTER", "30")))
    # Kamailio's SIP address (host:port) that every FreeSWITCH leg is sent through; empty = direct.
    kamailio_sip: str = field(default_factory=lambda: _env("CP_KAMAILIO_SIP", ""))
    fs_profile: str = field(default_factory=lambda: _env("CP_FS_PROFILE", "external"))
    leg_timeout: int = field(default_factory=lambda: int(_env("CP_LEG_TIMEOUT", "60")))
    controller_metrics_port: int = field(default_factory=lambda: int(_env("CP_CONTROLLER_METRICS_PORT", "0")))


def get_settings() -> Settings:
    """Fresh settings from the current environment (cheap; tests change env between runs)."""
    return Settings()
