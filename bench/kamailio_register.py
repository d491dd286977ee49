"""REGISTER throughput of the SIP edge: digest auth against MariaDB vs. no auth, in one run.

    .venv/bin/python bench/kamailio_register.py [--users 1000] [--seconds 10] [--concurrency 200]

Starts Kamailio twice on loopback with the project's config and a scratch database
(cp_bench_<pid>): once as built (WITH_AUTH), once rendered with CP_KAMAILIO_AUTH=0. sipp
sends REGISTERs for --users accounts, one per tenant realm (user 1000 in realms
b00000.bench.test ...; realms from a CSV injection file) as fast as the edge answers, keeping
--concurrency registrations in flight, for --seconds. An authenticated registration is two
transactions (401 challenge, then 200); both figures count completed registrations per second.
The benchmark source is on the IP allow list so pike does not ban it (anti-flood stays loaded).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "kamailio" / "scenarios"
REALM = "bench.test"
USER, PASSWORD = "1000", "bench-password-1"


def run_edge(db_url: str, run_dir: Path, auth: bool, users: int, seconds: int, concurrency: int) -> dict:
    from controlplane.kamailio.render import command, render
    from controlplane.kamailio.rpc import KamailioRpc
    from controlplane.testing.net import free_port

    ports = {k: free_port() for k in ("SIP", "TLS", "WS", "WSS", "RPC")}
    os.environ.update({
        "CP_KAMAILIO_RUN_DIR": str(run_dir), "CP_KAMAILIO_AUTH": "1" if auth else "0",
        **{f"CP_KAMAILIO_{k}_PORT": str(v) for k, v in ports.items()},
    })
    cfg = render(run_dir / f"kamailio-{'auth' if auth else 'noauth'}.cfg").path
    log = (run_dir / f"kamailio-{'auth' if auth else 'noauth'}.log").open("w")
    proc = subprocess.Popen(command(cfg, run_dir, shm_mb=256, pkg_mb=16),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        rpc = KamailioRpc(f"http://127.0.0.1:{ports['RPC']}/RPC", timeout=2)
        for _ in range(100):
            try:
                rpc.ping()
                break
            except Exception:  # noqa: BLE001 - starting
                time.sleep(0.2)
        else:
            raise SystemExit(f"kamailio did not start: see {log.name}")
        scenario = SCENARIOS / ("bench_register_auth.xml" if auth else "bench_register_noauth.xml")
        csv = run_dir / "users.csv"
        stat = run_dir / f"sipp-{'auth' if auth else 'noauth'}.csv"
        started = time.monotonic()
        out = subprocess.run(
            ["sipp", f"127.0.0.1:{ports['SIP']}", "-sf", str(scenario), "-inf", str(csv),
             "-s", USER, "-au", USER, "-ap", PASSWORD,
             "-i", "127.0.0.1", "-t", "u1", "-r", "100000", "-l", str(concurrency), "-timeout", f"{seconds}s",
             "-nostdin", "-trace_stat", "-stf", str(stat), "-fd", "1", "-max_recv_loops", "100000",
             "-max_sched_loops", "100000"],
            capture_output=True, text=True, timeout=seconds + 60,
        )
        elapsed = time.monotonic() - started
        ok = _last_counter(out.stdout, "Successful call")
        failed = _last_counter(out.stdout, "Failed call")
        return {"registrations": ok, "failed": failed, "seconds": elapsed, "rate": ok / elapsed}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


def _last_counter(screen: str, name: str) -> int:
    found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return int(found[-1]) if found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    if not shutil.which("sipp") or not shutil.which("kamailio"):
        print("needs sipp and kamailio on PATH", file=sys.stderr)
        return 2

    server = os.environ.get("CP_BENCH_SERVER_URL", "mysql+pymysql://root@127.0.0.1:3306")
    db_url = f"{server}/cp_bench_{os.getpid()}"
    os.environ["DATABASE_URL"] = db_url
    from controlplane.db import drop_database, session_scope
    from controlplane.kamailio.tables import sync
    from controlplane.migrate import upgrade
    from controlplane.models import IpListAction, IpListEntry, SipAccount
    from controlplane.services.accounts import ha1, ha1b
    from controlplane.services.scope import Scope
    from controlplane.services.tenants import create_tenant, ensure_operator

    run_dir = Path(tempfile.mkdtemp(prefix="cp-bench-kamailio-"))
    os.environ.update({"CP_KAMAILIO_LISTEN_IP": "127.0.0.1", "CP_KAMAILIO_RPC_IP": "127.0.0.1",
                       "CP_KAMAILIO_CHILDREN": os.environ.get("CP_KAMAILIO_CHILDREN", "8")})
    try:
        upgrade(db_url)
        lines = ["SEQUENTIAL"]
        with session_scope(db_url) as s:
            ensure_operator(s)
            for i in range(args.users):
                realm = f"b{i:05d}.{REALM}"
                tenant = create_tenant(s, Scope.operator(), name=f"bench-{i:05d}", realm=realm)
                s.add(SipAccount(tenant_id=tenant.id, username=USER, ha1=ha1(USER, realm, PASSWORD),
                                 ha1b=ha1b(USER, realm, PASSWORD)))
                lines.append(f"{realm};")
            s.add(IpListEntry(action=IpListAction.ALLOW, address="127.0.0.1"))
            s.flush()
            sync(s, reload=False)
        (run_dir / "users.csv").write_text("\n".join(lines) + "\n")

        auth = run_edge(db_url, run_dir, True, args.users, args.seconds, args.concurrency)
        noauth = run_edge(db_url, run_dir, False, args.users, args.seconds, args.concurrency)
    finally:
        drop_database(db_url)
    ratio = auth["rate"] / noauth["rate"] if noauth["rate"] else 0.0
    print(f"REGISTER with digest auth (MariaDB): {auth['rate']:8.0f}/s  "
          f"({auth['registrations']} ok, {auth['failed']} failed in {auth['seconds']:.1f} s)")
    print(f"REGISTER without auth:               {noauth['rate']:8.0f}/s  "
          f"({noauth['registrations']} ok, {noauth['failed']} failed in {noauth['seconds']:.1f} s)")
    print(f"ratio auth / no auth:                {ratio:8.2f}")
    print(f"(logs in {run_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
