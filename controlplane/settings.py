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
    web_host: str = field(default_factory=lambda: _env("CP_WEB_HOST", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: int(_env("CP_WEB_PORT", "8080")))
    secret_key: str = field(default_factory=lambda: _env("CP_SECRET_KEY", "dev-only-change-me"))
    # When true, LCR leaves out carriers whose buy rate is above the sell rate.
    # Country code assumed for a tenant that has none set (E.164 normalization of national numbers).
    default_country_code: str = field(default_factory=lambda: _env("CP_COUNTRY_CODE", "1"))
    lcr_skip_unprofitable: bool = field(
        default_factory=lambda: _env("CP_LCR_SKIP_UNPROFITABLE", "0").lower() in ("1", "true", "yes")
    )


def get_settings() -> Settings:
    """Fresh settings from the current environment (cheap; tests change env between runs)."""
    return Settings()
