"""Controller benchmark: one controller process driven by the FreeSWITCH stand-in.

Prints, in one run: calls per second, decision latency p50/p99 (call arrival -> bridge command,
measured on the FreeSWITCH side), CDR writes per second; and beside them the same figures for
a baseline outbound-ESL app that bridges at once without deciding anything (the protocol floor).

Run: .venv/bin/python bench/controller.py [--calls 2000] [--rate 200] [--hold 1.0]
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
from controlplane.services.tenants import create_tenant, ensure_operator  # noqa: E402
from controlplane.testing.fs_standin import CallSpec, FarEnd, FreeSwitchStandIn  # noqa: E402
from controlplane.testing.fs_standin.node import FreeSwitchStandIn as _Node  # noqa: E402
from controlplane.testing.net import free_port, wait_port  # noqa: E402

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
        import_deck(s, "retail", ["49,Germany,0.60,1,1,0\n"])
        import_deck(s, "buy", ["49,Germany,0.30,1,1,0\n"])
        create_plan(s, name="basic", decks=["retail"])
        create_carrier(s, name="carrier-a", host="127.0.0.1", port=5071, buy_deck="buy")
        tenant = create_tenant(s, name="bench", realm="bench.example.com", plan="basic")
        account = create_sip_account(s, tenant, "1000", "secret-1000").account
        add_credit(s, tenant, Decimal("1000000"), "bench", "bench")
        s.flush()
        return {"X-CP-Account": str(account.id), "X-CP-Tenant": str(tenant.id), "X-CP-Auth": "digest"}


class Timing:
    """Hooks the stand-in: when each call arrived and when its bridge command came."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.bridged: dict[str, float] = {}
        original = _Node.handle_outbound_command
        timing = self

        def hooked(node, call, headers, body, raw=None):  # noqa: ANN001, ANN202
            if call.uuid not in timing.bridged and any(k == "execute-app-name" and v == "bridge"
                                                        for k, v in headers[1:]):
                timing.bridged[call.uuid] = time.perf_counter()
            return original(node, call, headers, body, raw)

        _Node.handle_outbound_command = hooked

    def latencies(self) -> list[float]:
        return sorted(self.bridged[u] - self.arrived[u] for u in self.bridged if u in self.arrived)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


def drive(port: int, headers: dict[str, str], calls: int, rate: float, hold: float) -> dict[str, float]:
    timing = Timing()
    fs = FreeSwitchStandIn(controller=("127.0.0.1", port), inbound_port=0, time_scale=1.0, cdr_url=None)
    fs.start()
    fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.05, hangup_after=hold))
    placed = []
    started = time.perf_counter()
    for n in range(calls):
        due = started + n / rate
        if (delay := due - time.perf_counter()) > 0:
            time.sleep(delay)
        call = fs.place_call(CallSpec(destination="+49891234567", sip_headers=headers))
        timing.arrived[call.uuid] = time.perf_counter()
        placed.append(call)
    for call in placed:
        call.wait_done(60)
    elapsed = time.perf_counter() - started
    fs.stop()
    lat = timing.latencies()
    return {"calls": len(placed), "elapsed": elapsed, "cps": len(placed) / elapsed, "p50": pct(lat, 0.50),
            "p99": pct(lat, 0.99), "bridged": len(lat)}


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
    base = drive(base_port, headers, args.calls, args.rate, args.hold)
    baseline.send_signal(signal.SIGKILL)

    port = free_port()
    env["CP_CONTROLLER_PORT"] = str(port)
    controller = run_process([sys.executable, "-m", "controlplane.esl"], port, env, tmp / "controller.log")
    t0 = time.time()
    cpu_before = time.process_time()
    real = drive(port, headers, args.calls, args.rate, args.hold)
    driver_cpu = time.process_time() - cpu_before
    with open(f"/proc/{controller.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    controller_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    time.sleep(2)
    controller.terminate()
    controller.wait(10)
    cdrs, cdr_per_s = cdr_rate(t0)

    print(f"{args.calls} calls offered at {args.rate:.0f}/s, each held {args.hold:.1f} s, one controller process")
    print(f"{'':28}{'controller':>14}{'baseline (no decision)':>26}")
    print(f"{'calls completed per second':28}{real['cps']:>14.1f}{base['cps']:>26.1f}   target >= 200/s")
    print(f"{'decision latency p50 (ms)':28}{real['p50']:>14.2f}{base['p50']:>26.2f}")
    print(f"{'decision latency p99 (ms)':28}{real['p99']:>14.2f}{base['p99']:>26.2f}   target <= 20 ms")
    print(f"{'calls bridged':28}{real['bridged']:>14}{base['bridged']:>26}")
    print(f"CDRs written: {cdrs} ({cdr_per_s:.1f} CDR writes/s while calls ended)")
    print(f"CPU seconds: controller {controller_cpu:.1f}, FreeSWITCH stand-in and driver {driver_cpu:.1f} "
          f"(2 cores shared; wall {real['elapsed']:.1f} s)")
    drop_database(BENCH_DB)


if __name__ == "__main__":
    threading.stack_size(512 * 1024)
    main()
