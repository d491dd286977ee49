"""Schema management: our tables through Alembic, Kamailio's from the package's own SQL files."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config

from controlplane.db import ensure_database, get_engine
from controlplane.settings import get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# The Kamailio modules our kamailio.cfg uses that keep tables in the database.
KAMAILIO_SCHEMAS = (
    "standard", "auth_db", "usrloc", "domain", "permissions", "dispatcher", "uac", "htable", "acc",
    "dialog", "secfilter",
)

_CREATE_TABLE = re.compile(r"CREATE TABLE\s+`?(\w+)`?", re.IGNORECASE)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    url = url or get_settings().database_url
    ensure_database(url)
    command.upgrade(alembic_config(url), revision)
    load_kamailio_schema(url)


def load_kamailio_schema(url: str | None = None, schema_dir: str | None = None) -> list[str]:
    """Create Kamailio's standard tables that are missing; returns the modules it loaded.

    The SQL comes from the kamailio-mysql-modules package, so table layouts and `version`
    rows are exactly what this Kamailio build expects.
    """
    folder = Path(schema_dir or get_settings().kamailio_schema_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"Kamailio schema folder {folder} not found: install kamailio-mysql-modules")
    engine = get_engine(url)
    loaded: list[str] = []
    with engine.begin() as conn:
        existing = {row[0] for row in conn.exec_driver_sql("SHOW TABLES")}
        for module in KAMAILIO_SCHEMAS:
            sql = (folder / f"{module}-create.sql").read_text()
            tables = _CREATE_TABLE.findall(sql)
            if tables and all(t in existing for t in tables):
                continue
            for statement in _split_sql(sql):
                conn.exec_driver_sql(statement)
            loaded.append(module)
    return loaded


def _split_sql(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
