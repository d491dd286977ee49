"""Controller benchmark: one controller process driven by the FreeSWITCH stand-in's calls.

Prints, in one run: calls set up per second, decision latency p50/p99 (call arrival -> bridge
command, measured on the FreeSWITCH side), CDR writes per second and CPU per call of each process;
and beside them the same figures for a baseline outbound-ESL app that bridges at once without
deciding anything (the protocol floor). The load is one stand-in call, recorded against the
process under test and replayed for every call (bench/esl_load.py).

Run: .venv/bin/python bench/controller.py [--calls 2000] [--rate 200] [--hold 1.0]
CP_BENCH_DUMP=/tmp/lat also writes "<arrival s> <latency ms>" per call to /tmp/lat.<port>.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BENCH_DB = os.environ.get("CP_BENCH_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/cp_bench_controller")
os.environ["DATABASE_URL"] = BENCH_DB
os.environ["CP_REDIS_PREFIX"] = "cpbench:"

from sqlalchemy import func, select  # noqa: E402

from controlplane.db import drop_database, session_scope  # noqa: E402
from controlplane.migrate import upgrade  # noqa: E402
from controlplane.models import Cdr  # noqa: E402
from controlplane.services.accounts import create_sip_account  # noqa: E402
from controlplane.services.carriers import create_carrier  # noqa: E402
from controlplane.services.decks import import_deck  # noqa: E402
from controlplane.services.ledger import add_credit  # noqa: E402
from controlplane.services.plans import create_plan  # noqa: E402
from controlplane.services.scope import Scope  # noqa: E402
from controlplane.services.tenants import create_tenant, ensure_operator  # noqa: E402
from controlplane.testing.net import free_port, wait_port  # noqa: E402
from fs_standin import CallSpec, FarEnd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from esl_load import drive, record_one_call  # noqa: E402

BASELINE_APP = '''
from gevent import monkey; monkey.patch_all()
import sys
from gevent.server import StreamServer
from greenswitch.esl import OutboundSession
from controlplane.esl.server import close_session

def handle(sock, addr):
    s = OutboundSession(addr, sock)
    try:
        s.connect(); s.send("myevents"); s.send("linger")
        s.send("sendmsg\\ncall-command: execute\\nexecute-app-name: set\\n"
               "execute-app-arg: hangup_after_bridge=true")
        s.send("sendmsg\\ncall-command: execute\\nexecute-app-name: bridge\\n"
               "execute-app-arg: sofia/controlplane/49891234567@127.0.0.1:5071")
        while s.connected and not s._lingering:
            import gevent; gevent.sleep(0.05)
    finally:
        close_session(s)

StreamServer(("127.0.0.1", int(sys.argv[1])), handle, backlog=1024).serve_forever()
'''




def prepare() -> dict[str, str]:
    import redis

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    for key in client.scan_iter(match="cpbench:*", count=1000):
        client.delete(key)
    drop_database(BENCH_DB)
    upgrade(BENCH_DB)
    with session_scope() as s:
        ensure_operator(s)
        import_deck(s, Scope.operator(), "retail", ["49,Germany,0.60,1,1,0\n"])
        import_deck(s, Scope.operator(), "buy", ["49,Germany,0.30,1,1,0\n"])
        create_plan(s, Scope.operator(), name="basic", decks=["retail"])
        create_carrier(s, Scope.operator(), name="carrier-a", host="127.0.0.1", port=5071, buy_deck="buy")
        tenant = create_tenant(s, Scope.operator(), name="bench", realm="bench.example.com", plan="basic")
        account = create_sip_account(s, Scope.operator(), tenant, "1000", "secret-1000").account
        add_credit(s, Scope.operator(), tenant, Decimal("1000000"), "bench")
        s.flush()
        return {"X-CP-Account": str(account.id), "X-CP-Tenant": str(tenant.id), "X-CP-Auth": "digest"}


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_of(name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def run_load(pid: int, port: int, headers: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    """Record one call through the stand-in, then replay it `calls` times (see bench/esl_load.py).
    CPU seconds are counted over the replay only, per process that serves the calls."""
    far_end = ("127.0.0.1:5071", FarEnd.answer(after=0.05, hangup_after=args.hold))
    rec = record_one_call(("127.0.0.1", port), far_end, CallSpec(destination="+49891234567", sip_headers=headers))
    watched = {"app": [pid], "mariadb": pids_of("mariadbd"), "redis": pids_of("redis-server")}
    before = {k: sum(cpu_seconds(p) for p in v) for k, v in watched.items()}
    driver_before = time.process_time()
    result, elapsed = drive(rec, ("127.0.0.1", port), args.calls, args.rate)
    cpu = {k: sum(cpu_seconds(p) for p in v) - before[k] for k, v in watched.items()}
    cpu["driver"] = time.process_time() - driver_before
    lat = result.latencies()
    if os.environ.get("CP_BENCH_DUMP"):
        t0 = min(result.arrived.values())
        with open(os.environ["CP_BENCH_DUMP"] + f".{port}", "w") as dump:
            for u, at in sorted(result.arrived.items(), key=lambda kv: kv[1]):
                if u in result.bridged:
                    dump.write(f"{at - t0:.4f} {1000 * (result.bridged[u] - at):.2f}\n")
    # Calls set up per second: from the first call's arrival to the last call's bridge command.
    span = max(result.bridged.values(), default=0.0) - min(result.arrived.values(), default=0.0)
    return {"elapsed": elapsed, "cps": len(lat) / span if span > 0 else float("nan"), "p50": pct(lat, 0.50),
            "p99": pct(lat, 0.99), "bridged": len(lat), "deviated": result.deviated, "failed": result.failed,
            "completed": result.completed,
            "cpu": cpu}


def cdr_rate(since: float) -> tuple[int, float]:
    with session_scope() as s:
        count = s.scalar(select(func.count()).select_from(Cdr))
        first, last = s.execute(select(func.min(Cdr.created_at), func.max(Cdr.created_at))).one()
    span = (last - first).total_seconds() if first and last and last > first else 0.0
    return count, (count / span if span else float("nan"))


def run_process(args: list[str], port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_port(port)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--hold", type=float, default=1.0, help="seconds each call stays up")
    args = parser.parse_args()
    headers = prepare()
    tmp = Path(tempfile.mkdtemp(prefix="cp-bench-"))
    env = dict(os.environ, CP_LOG_LEVEL="WARNING", CP_SYNC_INTERVAL="3600", CP_DECK_CHECK_INTERVAL="5")

    base_port = free_port()
    baseline = run_process([sys.executable, "-c", BASELINE_APP, str(base_port)], base_port, env, tmp / "base.log")
    base = run_load(baseline.pid, base_port, headers, args)
    baseline.send_signal(signal.SIGKILL)

    port = free_port()
    env["CP_CONTROLLER_PORT"] = str(port)
    controller = run_process([sys.executable, "-m", "controlplane.esl"], port, env, tmp / "controller.log")
    t0 = time.time()
    real = run_load(controller.pid, port, headers, args)
    time.sleep(2)
    controller.terminate()
    controller.wait(10)
    cdrs, cdr_per_s = cdr_rate(t0)

    print(f"{args.calls} calls offered at {args.rate:.0f}/s, each held {args.hold:.1f} s, one controller process")
    print(f"{'':30}{'controller':>12}{'baseline (no decision)':>26}")
    print(f"{'calls set up per second':30}{real['cps']:>12.1f}{base['cps']:>26.1f}   target >= 200/s")
    print(f"{'decision latency p50 (ms)':30}{real['p50']:>12.2f}{base['p50']:>26.2f}")
    print(f"{'decision latency p99 (ms)':30}{real['p99']:>12.2f}{base['p99']:>26.2f}   target <= 20 ms")
    print(f"{'calls bridged / completed':30}{real['bridged']:>7} / {real['completed']:<4}"
          f"{base['bridged']:>19} / {base['completed']:<4}")
    print(f"{'calls failed / deviated':30}{real['failed']:>8} / {real['deviated']:<3}{base['failed']:>20} / "
          f"{base['deviated']:<3}")
    for name, label in (("app", "ESL app"), ("mariadb", "MariaDB"), ("redis", "Redis"), ("driver", "load driver")):
        print(f"{'CPU ms per call, ' + label:30}{1000 * real['cpu'][name] / args.calls:>12.2f}"
              f"{1000 * base['cpu'][name] / args.calls:>26.2f}")
    print(f"CDRs written: {cdrs} ({cdr_per_s:.1f} CDR writes/s while calls ended); 2 cores shared by all of the above")
    drop_database(BENCH_DB)


if __name__ == "__main__":
    threading.stack_size(512 * 1024)
    main()
