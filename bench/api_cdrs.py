"""REST API CDR reads: cursor pages, totals and the streamed CSV export over a generated CDR table.

Run: .venv/bin/python bench/api_cdrs.py [--rows 1000000] [--tenants 200] [--skip-generate] [--requests 200] [--explain]

Builds its own database (cp_bench_api, CP_BENCH_DATABASE_URL overrides): one reseller with `--tenants` client
tenants, one SIP account each, and `--rows` CDRs spread evenly over Sep-Nov 2026, ids ascending with start_at
as the CDR writer leaves them. The API is called in-process (Flask test client) with a reseller's key (its
scope is the reseller's subtree) and a superadmin's key (the whole table); times are taken around the client
call, so they hold routing, authentication (with the key's last use committed), the query and the JSON body.
The export is measured in a child process that does nothing else, so its peak RSS is the export's own.
Prints figures only; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BENCH_DB = os.environ.get("CP_BENCH_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/cp_bench_api")
os.environ["DATABASE_URL"] = BENCH_DB
os.environ.setdefault("CP_REDIS_PREFIX", "cp_bench_api:")  # the rate limiter's counters stay apart

from sqlalchemy import and_, func, or_, select, text  # noqa: E402

from controlplane.db import drop_database, get_engine, session_scope  # noqa: E402
from controlplane.migrate import upgrade  # noqa: E402
from controlplane.models import Cdr, Role, SipAccount, Tenant, TenantKind, TenantRole, User  # noqa: E402
from controlplane.services import accounts, api_keys, cdr_reports, tenants  # noqa: E402
from controlplane.services.scope import Scope, for_user  # noqa: E402
from controlplane.web import create_app  # noqa: E402
from controlplane.web.api.access import encode_cursor  # noqa: E402

START = dt.datetime(2026, 9, 1)
END = dt.datetime(2026, 12, 1)
MONTH = {"since": "2026-10-01T00:00:00", "until": "2026-11-01T00:00:00"}
RESELLER = "bench-reseller"
BATCH = 20_000
PAGE = 50
OFFSET_PAGE = 10_000
EXPORT_TARGET = 100_000
DESTINATIONS = (  # prefix, name, rate per minute in 1/10000
    ("4930", "Germany Berlin", 120), ("49151", "Germany Mobile", 390), ("1212", "USA New York", 50),
    ("1310", "USA Los Angeles", 50), ("44207", "UK London", 80), ("447", "UK Mobile", 450),
    ("331", "France Paris", 110), ("336", "France Mobile", 520), ("9198", "India Mobile", 210),
    ("5511", "Brazil Sao Paulo", 340), ("8190", "Japan Mobile", 610), ("61", "Australia", 230),
)
OUTCOMES = (  # cumulative share, disposition, sip code, hangup cause
    (0.62, "ANSWERED", 200, "NORMAL_CLEARING"), (0.77, "NO ANSWER", 480, "NO_ANSWER"),
    (0.87, "BUSY", 486, "USER_BUSY"), (1.0, "FAILED", 503, "NORMAL_TEMPORARY_FAILURE"),
)


# ---------------------------------------------------------------------------------------------- the data


def build_tenants(count: int) -> list[tuple[int, int, str]]:
    """The reseller and its clients, one SIP account each: [(tenant id, account id, name)]."""
    op = Scope.operator("bench")
    out = []
    with session_scope() as s:
        tenants.ensure_operator(s)
        tenants.create_tenant(s, op, name=RESELLER, realm=None, kind=TenantKind.RESELLER, margin_pct="10")
        for i in range(count):
            name = f"bench-c{i:03d}"
            t = tenants.create_tenant(s, op, name=name, realm=f"c{i:03d}.bench.example", parent=RESELLER,
                                      margin_pct="0")
            account = accounts.create_sip_account(s, op, t, "1000", "bench-password-1000").account
            out.append((t.id, account.id, name))
    return out


def cdr_rows(first: int, count: int, total: int, clients: list[tuple[int, int, str]],
             rng: random.Random) -> list[dict]:
    """CDRs `first` .. `first + count - 1` of `total`, start times evenly spread and ascending."""
    step = (END - START).total_seconds() / total
    rows = []
    for i in range(first, first + count):
        start = START + dt.timedelta(seconds=int((i + rng.random()) * step))
        tenant_id, account_id, tenant_name = clients[rng.randrange(len(clients))]
        prefix, name, rate = DESTINATIONS[rng.randrange(len(DESTINATIONS))]
        number = prefix + "".join(rng.choices("0123456789", k=11 - len(prefix)))
        roll = rng.random()
        _, disposition, sip_code, cause = next(o for o in OUTCOMES if roll <= o[0])
        ring = rng.randint(2, 25)
        answered = disposition == "ANSWERED"
        billsec = min(int(rng.expovariate(1 / 110)), 7200) if answered else 0
        charged = 6 * math.ceil(billsec / 6) if answered else 0
        cost = Decimal(charged * rate // 60 * 11 // 10).scaleb(-4)  # the reseller's 10 % on the wholesale
        wholesale = Decimal(charged * rate // 60).scaleb(-4)
        rows.append({
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "direction": "outbound", "tenant_id": tenant_id, "sip_account_id": account_id,
            "caller_id_name": "Bench", "caller_id_number": "1000", "dialed": number, "number": number,
            "destination": name, "start_at": start,
            "answer_at": start + dt.timedelta(seconds=ring) if answered else None,
            "end_at": start + dt.timedelta(seconds=ring + billsec), "duration": ring + billsec,
            "billsec": billsec, "disposition": disposition, "sip_code": sip_code, "hangup_cause": cause,
            "attempts": [{"trunk_id": None, "trunk": "carrier-a", "cause": cause, "sip_code": sip_code,
                          "answered": answered}],
            "rate_prefix": prefix, "rate_source": "plan", "rate": Decimal(rate * 11 // 10).scaleb(-4),
            "charged_seconds": charged, "billing_blocks": charged // 6, "cost": cost, "buy_cost": None,
            "currency": "USD",
            "chain": [{"level": "wholesale", "margin_pct": "0", "cost": str(wholesale)},
                      {"level": RESELLER, "margin_pct": "10", "cost": str(cost)},
                      {"level": tenant_name, "margin_pct": "0", "cost": str(cost)}],
            "node": "fs-node-1", "written_by": "controller", "created_at": start,
        })
    return rows


def generate(rows: int, tenant_count: int, rng: random.Random) -> None:
    started = time.perf_counter()
    drop_database(BENCH_DB)
    upgrade(BENCH_DB)
    clients = build_tenants(tenant_count)
    setup = time.perf_counter() - started
    print(f"schema + {tenant_count} tenants and SIP accounts: {setup:.1f} s", flush=True)
    table = Cdr.__table__
    build_s = insert_s = 0.0
    started = time.perf_counter()
    for first in range(0, rows, BATCH):
        t0 = time.perf_counter()
        batch = cdr_rows(first, min(BATCH, rows - first), rows, clients, rng)
        t1 = time.perf_counter()
        with get_engine().begin() as conn:
            conn.execute(table.insert(), batch)
        t2 = time.perf_counter()
        build_s += t1 - t0
        insert_s += t2 - t1
        done = first + len(batch)
        if done % 200_000 == 0 or done == rows:
            print(f"  {done:>9,} CDRs  {done / (t2 - started):8,.0f} rows/s", flush=True)
    t0 = time.perf_counter()
    with get_engine().connect() as conn:
        conn.execute(text("ANALYZE TABLE cdrs")).all()
    analyze = time.perf_counter() - t0
    total = time.perf_counter() - started
    print(f"generated {rows:,} CDRs in {total:.1f} s ({rows / total:,.0f} rows/s): building rows {build_s:.1f} s, "
          f"executemany in batches of {BATCH:,} {insert_s:.1f} s, ANALYZE TABLE {analyze:.1f} s", flush=True)


def ensure_user(s, email: str, tenant_id: int, role: Role) -> User:
    user = s.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(tenant_id=tenant_id, email=email, password_hash="x", role=role, tenant_role=TenantRole.ADMIN)
        s.add(user)
        s.flush()
    return user


def issue_keys() -> dict[str, tuple[str, int]]:
    """A fresh key for the reseller's user and for a superadmin: {who: (token, user id)}."""
    op = Scope.operator("bench")
    with session_scope() as s:
        operator = tenants.ensure_operator(s)
        reseller = s.scalar(select(Tenant).where(Tenant.name == RESELLER))
        out = {}
        for who, tenant_id, role in (("reseller", reseller.id, Role.RESELLER),
                                     ("superadmin", operator.id, Role.SUPERADMIN)):
            user = ensure_user(s, f"bench-{who}@bench.example", tenant_id, role)
            issued = api_keys.issue(s, op, user, ["*"], name=f"bench {who}")
            out[who] = (issued.token, user.id)
    return out


# ---------------------------------------------------------------------------------------------- measuring


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def ms(values: list[float]) -> str:
    return f"{pct(values, 0.5) * 1000:7.1f} / {pct(values, 0.99) * 1000:7.1f}" if values else "      - /       -"


class Api:
    def __init__(self, token: str) -> None:
        self.client = create_app({"API_RATE_LIMIT": "100000000/minute"}).test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, params: dict) -> tuple[float, dict]:
        url = f"{path}?{urlencode(params)}"
        t0 = time.perf_counter()
        response = self.client.get(url, headers=self.headers)
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return elapsed, response.get_json()


def bench_pages(api: Api, tenant_ids: list[int], rng: random.Random, requests: int,
                depth: int) -> tuple[list[float], list[float], int]:
    """One month of one tenant, first page then following next_cursor up to `depth` pages, until `requests`."""
    first: list[float] = []
    deeper: list[float] = []
    deepest = 0
    while len(first) + len(deeper) < requests:
        params = {"tenant_id": rng.choice(tenant_ids), **MONTH, "limit": PAGE}
        for n in range(depth):
            elapsed, body = api.get("/api/v1/cdrs", params)
            (first if n == 0 else deeper).append(elapsed)
            deepest = max(deepest, n + 1)
            if not body["next_cursor"] or len(first) + len(deeper) >= requests:
                break
            params["cursor"] = body["next_cursor"]
    return first, deeper, deepest


def bench_wide_pages(api: Api, rounds: int, depth: int) -> tuple[list[float], list[float]]:
    """The caller's whole view for one month, no tenant_id (README's curl example): the first page, then
    `depth - 1` pages following next_cursor, `rounds` times."""
    first: list[float] = []
    deeper: list[float] = []
    for _ in range(rounds):
        params = {**MONTH, "limit": PAGE}
        for n in range(depth):
            elapsed, body = api.get("/api/v1/cdrs", params)
            (first if n == 0 else deeper).append(elapsed)
            if not body["next_cursor"]:
                break
            params["cursor"] = body["next_cursor"]
    return first, deeper


def bench_totals(api: Api, tenant_ids: list[int], rng: random.Random, requests: int) -> tuple[list[float], dict]:
    """Totals of one tenant's month; the last answer is checked against a plain count."""
    out = []
    body: dict = {}
    tenant_id = tenant_ids[0]
    for _ in range(requests):
        tenant_id = rng.choice(tenant_ids)
        elapsed, body = api.get("/api/v1/cdrs/totals", {"tenant_id": tenant_id, **MONTH})
        out.append(elapsed)
    since, until = (dt.datetime.fromisoformat(MONTH[k]) for k in ("since", "until"))
    month = (Cdr.tenant_id == tenant_id, Cdr.start_at >= since, Cdr.start_at < until)
    with session_scope() as s:
        body["sql_calls"] = s.scalar(select(func.count()).select_from(Cdr).where(*month))
        body["sql_answered"] = s.scalar(select(func.count()).select_from(Cdr).where(*month, Cdr.billsec > 0))
    return out, body


def bench_service(user_id: int, tenant_ids: list[int], rng: random.Random, requests: int) -> dict[str, list[float]]:
    """The same page and totals straight through cdr_reports (no HTTP, no auth): what the database part costs."""
    since, until = (dt.datetime.fromisoformat(MONTH[k]) for k in ("since", "until"))
    out: dict[str, list[float]] = {"page": [], "totals": []}
    with session_scope() as s:
        scope = for_user(s, s.get(User, user_id))
        for _ in range(requests):
            flt = cdr_reports.CdrFilter(since=since, until=until, tenant_id=rng.choice(tenant_ids))
            t0 = time.perf_counter()
            cdr_reports.page_cdrs(s, scope, flt, limit=PAGE)
            out["page"].append(time.perf_counter() - t0)
            s.expunge_all()
            t0 = time.perf_counter()
            cdr_reports.totals(s, scope, flt)
            out["totals"].append(time.perf_counter() - t0)
    return out


def bench_deep(apis: dict[str, Api], rows: int, reps: int) -> tuple[int, dict[str, list[float]]]:
    """Page OFFSET_PAGE of the whole table newest first: OFFSET against keyset, raw SQL and through the API."""
    page = min(OFFSET_PAGE, max(0, rows // PAGE - 1))
    offset = page * PAGE
    out: dict[str, list[float]] = {"offset": [], "keyset": []}
    newest = (Cdr.start_at.desc(), Cdr.id.desc())  # the API's order: services/cdr_reports.py
    with session_scope() as s:
        after = None
        if offset:
            row = s.execute(select(Cdr.start_at, Cdr.id).order_by(*newest).offset(offset - 1).limit(1)).one()
            after = (row.start_at, row.id)
        want = None
        for _ in range(reps):
            t0 = time.perf_counter()
            got = [c.id for c in s.scalars(select(Cdr).order_by(*newest).offset(offset).limit(PAGE))]
            out["offset"].append(time.perf_counter() - t0)
            s.expunge_all()
            want = got
            stmt = select(Cdr).order_by(*newest).limit(PAGE)
            if after is not None:
                stmt = stmt.where(or_(Cdr.start_at < after[0], and_(Cdr.start_at == after[0], Cdr.id < after[1])))
            t0 = time.perf_counter()
            got = [c.id for c in s.scalars(stmt)]
            out["keyset"].append(time.perf_counter() - t0)
            s.expunge_all()
            if got != want:
                raise RuntimeError("the keyset page differs from the OFFSET page")
    for who, api in apis.items():
        params: dict = {"limit": PAGE}
        if after is not None:
            params["cursor"] = encode_cursor(after)
        out[f"api {who}"] = []
        for _ in range(reps):
            elapsed, body = api.get("/api/v1/cdrs", params)
            out[f"api {who}"].append(elapsed)
            if [c["id"] for c in body["items"]] != want:
                raise RuntimeError(f"the API's page ({who}) differs from the OFFSET page")
    return page, out


def export_window(rows: int) -> dict:
    """A since/until window holding about EXPORT_TARGET rows (the newest), or no filter on a small table."""
    if rows <= EXPORT_TARGET:
        return {}
    span = (END - START).total_seconds()
    since = END - dt.timedelta(seconds=int(span * EXPORT_TARGET / rows))
    return {"since": since.isoformat(), "until": END.isoformat()}


def run_export(token: str, params: dict, baseline: bool = False) -> dict:
    """The export in a child process (this file with --export-worker): rows, seconds, peak RSS. `baseline`: the
    same route with the lines formatted in Python (csv.writer over typed rows), as the export did before."""
    done = subprocess.run([sys.executable, __file__, "--export-worker", token, json.dumps(params),
                           *(["--baseline"] if baseline else [])], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"export worker failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def python_csv_export(session, scope, flt):  # noqa: ANN001, ANN201 - the baseline, as cdr_reports had it
    """The export before MariaDB wrote the lines: typed columns in keyset batches, csv.writer per row."""
    names = [name for name in cdr_reports.EXPORT_COLUMNS if name not in cdr_reports.hidden_fields(scope)]
    columns = [getattr(Cdr.__table__.c, name) for name in names]
    base = cdr_reports._filtered(scope, flt, select(Cdr.__table__.c.id, *columns))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    after = None
    start_column = names.index("start_at") + 1
    while True:
        rows = cdr_reports._newest_first(session, base, after, cdr_reports._dated(flt), cdr_reports.EXPORT_BATCH)
        for row in rows:
            writer.writerow(["" if v is None else v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v
                             for v in row[1:]])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < cdr_reports.EXPORT_BATCH:
            return
        after = (rows[-1][start_column], rows[-1][0])


def export_worker(token: str, params: dict, baseline: bool = False) -> None:
    if baseline:
        cdr_reports.export_csv = python_csv_export
    client = create_app({"API_RATE_LIMIT": "100000000/minute"}).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    warm = client.get("/api/v1/cdrs/totals", headers=headers, query_string={"until": START.isoformat()})
    if warm.status_code != 200:
        raise RuntimeError(f"warm-up: {warm.status_code}")
    before = vm_hwm_kb()
    t0 = time.perf_counter()
    response = client.get("/api/v1/cdrs/export", headers=headers, query_string=params, buffered=False)
    if response.status_code != 200:
        raise RuntimeError(f"export: {response.status_code}")
    lines = size = chunks = 0
    for chunk in response.response:
        data = chunk if isinstance(chunk, bytes) else chunk.encode()
        lines += data.count(b"\n")
        size += len(data)
        chunks += 1
    response.close()
    elapsed = time.perf_counter() - t0
    print(json.dumps({"rows": lines - 1, "seconds": elapsed, "bytes": size, "chunks": chunks,
                      "rss_before_kb": before, "rss_peak_kb": vm_hwm_kb(),
                      "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def vm_hwm_kb() -> int:
    """This address space's peak RSS. ru_maxrss is not used for the figure: Linux carries the parent's peak
    over fork and exec into it, so the child reports at least the generating parent's size."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


# ---------------------------------------------------------------------------------------------- EXPLAIN


def explain(user_id: int, tenant_id: int, rows: int) -> None:
    since, until = (dt.datetime.fromisoformat(MONTH[k]) for k in ("since", "until"))
    window = {k: dt.datetime.fromisoformat(v) for k, v in export_window(rows).items()}
    engine = get_engine()
    with session_scope() as s:
        scope = for_user(s, s.get(User, user_id))
        one = cdr_reports.CdrFilter(since=since, until=until, tenant_id=tenant_id)
        base = cdr_reports._filtered(scope, one)
        ids = s.scalars(base.with_only_columns(Cdr.id).order_by(Cdr.id.desc())).all()
        cursor = ids[len(ids) // 2] if ids else 0  # a cursor half way through the tenant's month
        statements = {
            "page, one tenant, one month": base.order_by(Cdr.id.desc()).limit(PAGE + 1),
            "page after a cursor": base.where(Cdr.id < cursor).order_by(Cdr.id.desc()).limit(PAGE + 1),
            "totals": cdr_reports._filtered(scope, one, select(func.count(Cdr.id), func.sum(Cdr.cost))),
            "page, whole view, one month": cdr_reports._filtered(scope, cdr_reports.CdrFilter(since=since, until=until))
            .order_by(Cdr.id.desc()).limit(PAGE + 1),
            "export batch": cdr_reports._filtered(scope, cdr_reports.CdrFilter(**window), select(Cdr.id))
            .order_by(Cdr.id.desc()).limit(cdr_reports.EXPORT_BATCH),
        }
    with engine.connect() as conn:
        for label, stmt in statements.items():
            compiled = stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
            print(f"EXPLAIN {label}:")
            result = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
            for row in result.mappings():
                print("   ", {k: row[k] for k in ("table", "type", "key", "key_len", "rows", "Extra")})


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the existing bench database")
    parser.add_argument("--requests", type=int, default=200, help="page requests per key")
    parser.add_argument("--explain", action="store_true", help="print MariaDB's plans for the queries")
    parser.add_argument("--export-only", action="store_true", help="measure only the CSV export (and its baseline)")
    parser.add_argument("--export-worker", nargs=2, metavar=("TOKEN", "PARAMS"), help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_worker:
        export_worker(args.export_worker[0], json.loads(args.export_worker[1]), args.baseline)
        return
    rng = random.Random(42)

    if not args.skip_generate:
        generate(args.rows, args.tenants, rng)
    with session_scope() as s:
        rows = s.scalar(select(func.count()).select_from(Cdr))
        reseller = s.scalar(select(Tenant).where(Tenant.name == RESELLER))
        tenant_ids = list(s.scalars(select(SipAccount.tenant_id).join(Tenant).where(Tenant.parent_id == reseller.id)))
    keys = issue_keys()
    apis = {who: Api(token) for who, (token, _) in keys.items()}
    print(f"table: {rows:,} CDRs over {len(tenant_ids)} tenants (about {rows / len(tenant_ids) / 3:,.0f} per tenant "
          f"and month)", flush=True)

    window = export_window(rows)
    exports = []
    for who in ("reseller", "superadmin"):
        exports.append((who, window, run_export(keys[who][0], window)))
    exports.append(("reseller", window | {"baseline": True}, run_export(keys["reseller"][0], window, baseline=True)))
    exports.append(("reseller", {}, run_export(keys["reseller"][0], {})))
    exports.append(("reseller", {"baseline": True}, run_export(keys["reseller"][0], {}, baseline=True)))
    if args.export_only:
        print_exports(exports)
        return

    for api in apis.values():  # first requests build the app's routes and schemas: not measured
        for _ in range(5):
            api.get("/api/v1/cdrs", {"tenant_id": tenant_ids[0], **MONTH, "limit": PAGE})
            api.get("/api/v1/cdrs/totals", {"tenant_id": tenant_ids[0], **MONTH})

    results: dict[str, dict] = {}
    for who, api in apis.items():
        r = results[who] = {}
        r["first"], r["deeper"], r["depth"] = bench_pages(api, tenant_ids, rng, args.requests, depth=10)
        r["wide_first"], r["wide_deeper"] = bench_wide_pages(api, rounds=10, depth=5)
        r["totals"], r["totals_body"] = bench_totals(api, tenant_ids, rng, 100)
        r["service"] = bench_service(keys[who][1], tenant_ids, rng, 100)
        print(f"measured pages and totals for the {who} key", flush=True)
    page, deep = bench_deep(apis, rows, reps=10)
    print("measured the deep page", flush=True)

    print()
    print(f"CDR reads through /api/v1 (in-process test client), {rows:,} CDRs, {len(tenant_ids)} tenants;"
          " p50 / p99 in ms")
    print(f"{'what':58} {'reseller key':>17}   {'superadmin key':>17}   goal")
    line = "-" * 120
    print(line)
    res, sup = results["reseller"], results["superadmin"]
    print(f"{'page, one tenant, one month: first pages':58} {ms(res['first'])}   {ms(sup['first'])}   "
          f"(n = {len(res['first'])} / {len(sup['first'])})")
    print(f"{'  pages 2..' + str(res['depth']) + ' following next_cursor':58} {ms(res['deeper'])}   "
          f"{ms(sup['deeper'])}   (n = {len(res['deeper'])} / {len(sup['deeper'])})")
    print(f"{'  all ' + str(args.requests) + ' requests':58} {ms(res['first'] + res['deeper'])}   "
          f"{ms(sup['first'] + sup['deeper'])}   p99 < 50 ms")
    print(f"{'  the same first page through cdr_reports (no HTTP/auth)':58} {ms(res['service']['page'])}   "
          f"{ms(sup['service']['page'])}")
    print(f"{'page, whole view, one month, no tenant_id: first page':58} {ms(res['wide_first'])}   "
          f"{ms(sup['wide_first'])}   (n = {len(res['wide_first'])} / {len(sup['wide_first'])})")
    print(f"{'  pages 2..5 following next_cursor':58} {ms(res['wide_deeper'])}   {ms(sup['wide_deeper'])}   "
          f"(n = {len(res['wide_deeper'])} / {len(sup['wide_deeper'])})")
    print(f"{'totals, one tenant, one month (100 requests)':58} {ms(res['totals'])}   {ms(sup['totals'])}")
    print(f"{'  the same totals through cdr_reports (no HTTP/auth)':58} {ms(res['service']['totals'])}   "
          f"{ms(sup['service']['totals'])}")
    body = res["totals_body"]
    print(f"  last totals answer: {body['calls']} calls, {body['answered']} answered; a plain SQL count of the same "
          f"rows: {body['sql_calls']} calls, {body['sql_answered']} with billsec > 0")
    print(line)
    print(f"page {page:,} of the whole table newest first (OFFSET {page * PAGE:,}), 10 times each:")
    print(f"{'  OFFSET, raw SQLAlchemy (the baseline)':58} {ms(deep['offset'])}")
    print(f"{'  keyset ((start_at, id) < cursor), raw SQLAlchemy':58} {ms(deep['keyset'])}")
    print(f"{'  keyset through the API (cursor)':58} {ms(deep['api reseller'])}   {ms(deep['api superadmin'])}")
    print(f"{'  OFFSET / keyset (raw, p50)':58} {pct(deep['offset'], 0.5) / pct(deep['keyset'], 0.5):14,.0f}x")
    print(line)
    print_exports(exports)
    if args.explain:
        print()
        explain(keys["reseller"][1], tenant_ids[0], rows)


def print_exports(exports: list[tuple[str, dict, dict]]) -> None:
    print("CSV export (a child process that only exports; peak RSS = its VmHWM; "
          "goal >= 50,000 rows/s, peak RSS < 150 MB); baseline: the lines formatted in Python (csv.writer)")
    for who, params, e in exports:
        params = dict(params)
        kind = "baseline" if params.pop("baseline", False) else "export"
        what = f"since {params['since'][:10]} until {params['until'][:10]}" if params else "no filter (whole table)"
        print(f"  {who:10} {kind:8} {what:34} {e['rows']:>9,} rows {e['seconds']:6.2f} s "
              f"{e['rows'] / e['seconds']:9,.0f} rows/s  {e['bytes'] / 2**20:6.1f} MiB in {e['chunks']} chunks")
        print(f"  {'':19} peak RSS {e['rss_peak_kb'] / 1024:5.1f} MB (before the request "
              f"{e['rss_before_kb'] / 1024:5.1f} MB; ru_maxrss {e['ru_maxrss_kb'] / 1024:5.1f} MB, the parent's peak"
              " carried over fork)")


if __name__ == "__main__":
    main()
