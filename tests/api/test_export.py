"""The CDR export's lines are written by MariaDB (cdr_reports.csv_line): they must be what csv.writer makes of
the same rows, byte for byte, whatever the text holds, and read back as the values stored."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from controlplane.core.cdr import CallRecord
from controlplane.models import Cdr
from controlplane.services import cdrs
from controlplane.services.cdr_reports import EXPORT_COLUMNS

AWKWARD = ['plain', 'with, comma', 'say "hi"', 'two\nlines', '"', ',', ' lead and trail ', 'Ünïcødé ☎', '',
           "O'Brien", 'tab\there', 'semi;colon', '\\back\\slash']


def _python_csv(rows: list[Cdr]) -> str:
    """What the export wrote before MariaDB built the lines (csv.writer over the stored values)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        values = [getattr(row, name) for name in EXPORT_COLUMNS]
        writer.writerow(["" if v is None else v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v
                         for v in values])
    return buffer.getvalue()


def _write(session, world, texts: list[str]) -> None:
    start = dt.datetime(2026, 10, 1, 8, 0, 0)
    records = []
    for i, text in enumerate(texts):
        answered = i % 3 != 0
        records.append(CallRecord(
            uuid=f"export-{i}", direction="outbound", tenant_id=world.tenant["c2"], sip_account_id=None,
            caller_id_number=text, dialed=text[:60] or None, number=f"4930{i:06d}", destination=text or None,
            start_at=start + dt.timedelta(minutes=i), answer_at=start + dt.timedelta(minutes=i) if answered else None,
            end_at=start + dt.timedelta(minutes=i, seconds=42), duration=42, billsec=40 if answered else 0,
            disposition="ANSWERED" if answered else "NO ANSWER", sip_code=200 if answered else 480,
            hangup_cause=text or None, cost=Decimal("0.123456") * i, currency="USD"))
    cdrs.write_many(session, records)
    session.commit()


def test_lines_from_mariadb_are_csv_writers_byte_for_byte(api, world, session):
    _write(session, world, AWKWARD)
    reply = api("superadmin", "GET", "/api/v1/cdrs/export", query_string={
        "tenant_id": world.tenant["c2"], "since": "2026-10-01T00:00:00", "until": "2026-10-02T00:00:00"})
    assert reply.status_code == 200
    stored = session.query(Cdr).filter(Cdr.uuid.like("export-%")).order_by(Cdr.start_at.desc(), Cdr.id.desc()).all()
    assert reply.get_data(as_text=True) == _python_csv(stored)


def test_a_carriage_return_is_quoted_and_reads_back(api, world, session):
    _write(session, world, ["one\rtwo", "cr\r\nlf"])
    reply = api("superadmin", "GET", "/api/v1/cdrs/export", query_string={
        "tenant_id": world.tenant["c2"], "since": "2026-10-01T00:00:00", "until": "2026-10-02T00:00:00"})
    rows = list(csv.DictReader(io.StringIO(reply.get_data(as_text=True), newline="")))
    assert sorted(r["caller_id_number"] for r in rows) == sorted(["one\rtwo", "cr\r\nlf"])
    assert '"one\rtwo"' in reply.get_data(as_text=True)


def test_hidden_columns_stay_out_of_a_clients_export(api, world, session):
    reply = api("tenant admin c1", "GET", "/api/v1/cdrs/export")
    header, *lines = reply.get_data(as_text=True).splitlines()
    assert "buy_cost" not in header and "trunk_id" not in header
    assert lines and all(len(next(csv.reader([line]))) == len(header.split(",")) for line in lines)


def test_batches_join_into_the_same_file(api, world, session, monkeypatch):
    """Across keyset batches (each cursor the last row's start time and id) no row is lost or repeated."""
    from controlplane.services import cdr_reports

    _write(session, world, AWKWARD)
    query = {"tenant_id": world.tenant["c2"], "since": "2026-10-01T00:00:00", "until": "2026-10-02T00:00:00"}
    whole = api("superadmin", "GET", "/api/v1/cdrs/export", query_string=query).get_data(as_text=True)
    monkeypatch.setattr(cdr_reports, "EXPORT_BATCH", 3)
    batched = api("superadmin", "GET", "/api/v1/cdrs/export", query_string=query).get_data(as_text=True)
    assert batched == whole and len(list(csv.reader(io.StringIO(batched, newline="")))) == len(AWKWARD) + 1
    undated = api("superadmin", "GET", "/api/v1/cdrs/export").get_data(as_text=True)  # dated and undated rows
    monkeypatch.setattr(cdr_reports, "EXPORT_BATCH", 2)
    assert api("superadmin", "GET", "/api/v1/cdrs/export").get_data(as_text=True) == undated
