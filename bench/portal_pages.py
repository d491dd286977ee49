"""Portal page server time over the REST API benchmark's 1,000,000 CDRs (bench/api_cdrs.py builds them; run it
first, or pass --generate): the operator's dashboard, a reseller's, a tenant's, and a filtered call-record page,
p50 / p99 of the whole request in-process (routing, login session, services, templates), goal p99 < 150 ms.

Run: .venv/bin/python bench/portal_pages.py [--requests 100] [--generate]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_cdrs  # noqa: E402 - sets DATABASE_URL to the benchmark's database before controlplane is imported
from sqlalchemy import select  # noqa: E402

from controlplane.db import session_scope  # noqa: E402
from controlplane.models import Role, SipAccount, Tenant  # noqa: E402
from controlplane.models.base import utcnow  # noqa: E402
from controlplane.services import tenants  # noqa: E402
from controlplane.services.users import hash_password  # noqa: E402
from controlplane.web import create_app  # noqa: E402

PASSWORD = "bench-portal-pass"
GOAL_MS = 150


def portal_client(email: str):  # noqa: ANN201
    client = create_app({"WTF_CSRF_ENABLED": False, "API_RATE_LIMIT": "100000000/minute"}).test_client()
    reply = client.post("/login", data={"email": email, "password": PASSWORD})
    if reply.status_code != 302:
        raise RuntimeError(f"login {email}: {reply.status_code}")
    return client


def users() -> dict[str, tuple[str, int]]:
    """A superadmin, the reseller, and one of its client tenants' admin: {who: (email, tenant id)}."""
    with session_scope() as s:
        operator = tenants.ensure_operator(s)
        reseller = s.scalar(select(Tenant).where(Tenant.name == api_cdrs.RESELLER))
        client_tenant = s.scalar(select(SipAccount.tenant_id).join(Tenant).where(Tenant.parent_id == reseller.id)
                                 .order_by(SipAccount.tenant_id).limit(1))
        out = {}
        for who, tenant_id, role in (("superadmin", operator.id, Role.SUPERADMIN),
                                     ("reseller", reseller.id, Role.RESELLER), ("tenant", client_tenant, Role.CLIENT)):
            user = api_cdrs.ensure_user(s, f"bench-portal-{who}@bench.example", tenant_id, role)
            user.password_hash, user.email_verified_at, user.active = hash_password(PASSWORD), utcnow(), True
            out[who] = (user.email, client_tenant)
    return out


def measure(client, url: str, n: int) -> list[float]:  # noqa: ANN001
    for _ in range(3):  # warm: templates compiled, caches filled
        client.get(url)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        reply = client.get(url)
        times.append(time.perf_counter() - t0)
        if reply.status_code != 200:
            raise RuntimeError(f"{url}: {reply.status_code}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--generate", action="store_true", help="build the 1,000,000-CDR database first")
    args = parser.parse_args()
    if args.generate:
        import random

        api_cdrs.generate(1_000_000, 200, random.Random(42))
    who = users()
    tenant_id = who["tenant"][1]
    cdr_page = f"/cdrs?since=2026-10-01&until=2026-10-31&tenant_id={tenant_id}"
    cases = [("operator dashboard (superadmin)", "superadmin", "/"),
             ("reseller dashboard (200 tenants below)", "reseller", "/"),
             ("tenant dashboard", "tenant", "/"),
             ("call records: one tenant, one month, 50 rows + totals (reseller)", "reseller", cdr_page),
             ("call records: the tenant's own month", "tenant", "/cdrs?since=2026-10-01&until=2026-10-31"),
             ("reports: per destination, 30 days (reseller)", "reseller", "/reports?by=destination&since=2026-10-01"
                                                                          "&until=2026-10-31")]
    clients = {w: portal_client(email) for w, (email, _) in who.items()}
    print(f"Portal pages over {api_cdrs.BENCH_DB.rsplit('/', 1)[-1]}, in-process, {args.requests} requests each; "
          f"p50 / p99 in ms (goal p99 < {GOAL_MS} ms)")
    for label, w, url in cases:
        n = args.requests if "reports" not in label else max(5, args.requests // 20)  # a month's report: heavy
        times = measure(clients[w], url, n)
        p99 = api_cdrs.pct(times, 0.99) * 1000
        goal = "" if "reports" in label else "met" if p99 < GOAL_MS else "NOT MET"
        print(f"  {label:70} {api_cdrs.ms(times)}  {goal} (n = {n})", flush=True)


if __name__ == "__main__":
    main()
