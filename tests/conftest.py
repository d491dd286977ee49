"""Shared fixtures: every test run gets its own MariaDB database and Redis key prefix."""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
SERVER_URL = os.environ.get("CP_TEST_SERVER_URL", "mysql+pymysql://root@127.0.0.1:3306")
TEST_DB_URL = f"{SERVER_URL}/cp_test_{RUN_ID}"

# Set before any controlplane module reads settings.
os.environ["DATABASE_URL"] = TEST_DB_URL
os.environ["CP_REDIS_PREFIX"] = f"cptest:{RUN_ID}:"

from controlplane.db import drop_database, get_engine  # noqa: E402
from controlplane.migrate import upgrade  # noqa: E402
from controlplane.models import Base  # noqa: E402
from controlplane.settings import get_settings  # noqa: E402


@pytest.fixture(scope="session")
def db_url() -> str:
    upgrade(TEST_DB_URL)
    yield TEST_DB_URL
    drop_database(TEST_DB_URL)


@pytest.fixture()
def clean_db(db_url: str) -> str:
    """Empty our tables (not Kamailio's version rows) so each test starts from nothing."""
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
    return db_url


@pytest.fixture()
def session(clean_db: str) -> Session:
    # READ COMMITTED so a test sees what the processes it drives have committed since.
    engine = get_engine(clean_db).execution_options(isolation_level="READ COMMITTED")
    s = sessionmaker(bind=engine, expire_on_commit=False)()
    yield s
    s.rollback()
    s.close()


@pytest.fixture()
def redis_client() -> redis.Redis:
    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    for key in client.scan_iter(match=f"{settings.redis_prefix}*"):
        client.delete(key)
