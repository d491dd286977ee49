"""Rating benchmark: in-process prefix lookups against the common SQL way, and deck import time.

Run: .venv/bin/python bench/rating.py [--prefixes 200000] [--lookups 200000] [--sql-lookups 300]
Prints figures only; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BENCH_DB = os.environ.get("CP_BENCH_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/cp_bench")
os.environ["DATABASE_URL"] = BENCH_DB

from sqlalchemy import text  # noqa: E402

from controlplane.db import drop_database, get_engine, session_scope  # noqa: E402
from controlplane.migrate import upgrade  # noqa: E402
from controlplane.services.decks import import_deck  # noqa: E402
from controlplane.services.scope import Scope  # noqa: E402
from controlplane.state.deck_cache import DeckCache  # noqa: E402


def make_deck(path: Path, count: int, rng: random.Random) -> list[str]:
    prefixes: set[str] = set()
    while len(prefixes) < count:
        prefixes.add(str(rng.randint(1, 9)) + "".join(rng.choices("0123456789", k=rng.randint(1, 8))))
    ordered = sorted(prefixes)
    with path.open("w") as handle:
        handle.write("prefix,destination,rate,initblock,billingblock,connectcharge\n")
        for p in ordered:
            handle.write(f"{p},Destination {p[:3]},{rng.randint(1, 99999) / 100000:.5f},{rng.choice((1, 30, 60))},"
                         f"{rng.choice((1, 6, 60))},0\n")
    return ordered


def numbers_for(prefixes: list[str], count: int, rng: random.Random) -> list[str]:
    picks = rng.choices(prefixes, k=count)
    return [p + "".join(rng.choices("0123456789", k=max(0, 12 - len(p)))) for p in picks]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefixes", type=int, default=200_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--sql-lookups", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(42)

    drop_database(BENCH_DB)
    upgrade(BENCH_DB)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "deck.csv"
        prefixes = make_deck(csv_path, args.prefixes, rng)
        started = time.perf_counter()
        with session_scope() as s, csv_path.open() as handle:
            report = import_deck(s, Scope.operator(), "bench", handle)
        import_seconds = time.perf_counter() - started
        started = time.perf_counter()
        with session_scope() as s, csv_path.open() as handle:
            report = import_deck(s, Scope.operator(), "bench", handle)
        reimport_seconds = time.perf_counter() - started

    with session_scope() as s:
        started = time.perf_counter()
        index = DeckCache(check_interval=3600).index(s, report.deck_id)
        load_seconds = time.perf_counter() - started

    numbers = numbers_for(prefixes, args.lookups, rng)
    started = time.perf_counter()
    hits = sum(1 for n in numbers if index.lookup(n) is not None)
    mem_seconds = time.perf_counter() - started
    mem_rate = len(numbers) / mem_seconds

    sql = text(
        "SELECT prefix, rate FROM rates WHERE deck_id = :deck AND :number LIKE CONCAT(prefix, '%') "
        "ORDER BY LENGTH(prefix) DESC LIMIT 1"
    )
    sample = numbers[: args.sql_lookups]
    agree = 0
    with get_engine().connect() as conn:
        started = time.perf_counter()
        for n in sample:
            row = conn.execute(sql, {"deck": report.deck_id, "number": n}).first()
            agree += row is not None and row.prefix == index.lookup(n).prefix
        sql_seconds = time.perf_counter() - started
    sql_rate = len(sample) / sql_seconds

    print(f"deck: {report.rows:,} prefixes")
    print(f"import (parse + validate + insert, one transaction): {import_seconds:6.2f} s   target < 15 s")
    print(f"re-import replacing all rows (atomic):               {reimport_seconds:6.2f} s")
    print(f"index build from MariaDB:                           {load_seconds:6.2f} s")
    print(f"in-process lookups:  {mem_rate:12,.0f} /s  ({len(numbers):,} numbers, {hits:,} matched)"
          "  target >= 100,000/s")
    print(f"SQL LIKE lookups:    {sql_rate:12,.1f} /s  ({len(sample)} numbers, {agree} agree with the index)")
    print(f"ratio in-process / SQL: {mem_rate / sql_rate:,.0f}x   target >= 100x")
    drop_database(BENCH_DB)


if __name__ == "__main__":
    main()
