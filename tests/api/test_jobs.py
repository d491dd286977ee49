"""Rate-deck upload over the API runs as an rq job on a real worker (`controlplane jobs --burst`): progress,
the result, a refused file's bad lines by number, and the job visible only to its owner and operators."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import func, select

from controlplane.models import Rate, RateDeck

GOOD = "".join(f"49{n:03d},Germany {n},0.{n % 90 + 10:02d},60,60,0\n" for n in range(12000))


def _work() -> None:
    """A real rq worker process, run until the queue is empty."""
    result = subprocess.run([sys.executable, "-m", "controlplane.cli", "jobs", "--burst"], env=dict(os.environ),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_deck_upload_is_a_job_with_progress_and_a_result(api, world, session):
    started = api("superadmin", "POST", "/api/v1/decks/bulk/import", data=GOOD, content_type="text/csv",
                  query_string={"kind": "sell", "currency": "EUR"})
    assert started.status_code == 202, started.get_json()
    ref = started.get_json()
    queued = api("superadmin", "GET", ref["status_url"]).get_json()
    assert queued["status"] == "queued" and queued["done"] == 0 and queued["kind"] == "deck.import"
    # Another operator sees it; a reseller does not (as if there were no such job).
    assert api("admin", "GET", ref["status_url"]).status_code == 200
    hidden = api("reseller r1", "GET", ref["status_url"])
    missing = api("reseller r1", "GET", "/api/v1/jobs/no-such-job")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json()["error"].replace(ref["job"], "X") == missing.get_json()["error"].replace(
        "no-such-job", "X")

    _work()
    done = api("superadmin", "GET", ref["status_url"]).get_json()
    assert done["status"] == "finished", done
    assert done["done"] == done["total"] == 12000
    assert done["result"] == {"ok": True, "deck": "bulk", "rows": 12000, "version": 1}
    session.rollback()
    deck = session.scalar(select(RateDeck).where(RateDeck.name == "bulk"))
    assert deck.currency == "EUR"
    assert session.scalar(select(func.count()).select_from(Rate).where(Rate.deck_id == deck.id)) == 12000

    rates = api("superadmin", "GET", "/api/v1/decks/bulk/rates", query_string={"prefix": "4900012345"}).get_json()
    assert [r["prefix"] for r in rates["items"]] == ["49000", "490001"] or all(
        "4900012345".startswith(r["prefix"]) for r in rates["items"])
    exported = api("superadmin", "GET", "/api/v1/decks/bulk/export").get_data(as_text=True)
    assert exported.count("\n") == 12001 and exported.startswith("prefix,")


def test_a_bad_file_reports_its_lines_and_changes_nothing(api, world, session):
    bad = "49,Germany,0.60,60,60,0\n4930,Berlin,abc,60,60,0\n,Nowhere,0.1,60,60,0\n"
    ref = api("superadmin", "POST", "/api/v1/decks/retail/import", data=bad, content_type="text/csv").get_json()
    _work()
    done = api("superadmin", "GET", ref["status_url"]).get_json()
    assert done["status"] == "finished" and done["result"]["ok"] is False
    assert [e.split(":")[0] for e in done["result"]["errors"]] == ["line 2", "line 3"]
    session.rollback()
    retail = session.scalar(select(RateDeck).where(RateDeck.name == "retail"))
    assert retail.version == 1  # the seed's deck, untouched


def test_upload_refusals(api, world):
    assert api("reseller r1", "POST", "/api/v1/decks/x/import", data="49,G,0.1,1,1,0\n",
               content_type="text/csv").status_code == 403
    empty = api("superadmin", "POST", "/api/v1/decks/x/import", data="", content_type="text/csv")
    assert empty.status_code == 400 and empty.get_json()["errors"] == {"body": ["the CSV is empty"]}
    wrong = api("superadmin", "POST", "/api/v1/decks/x/import", data="49,G,0.1,1,1,0\n", content_type="text/csv",
                query_string={"currency": "euro"})
    assert wrong.status_code == 422 and "currency" in wrong.get_json()["errors"]
