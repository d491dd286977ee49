"""Rate-deck imports as jobs: the CSV is validated whole, then the deck replaced in one transaction; progress
(rows written of rows) is kept in the job's meta, and a refused file reports its bad lines."""

from __future__ import annotations

from rq import get_current_job
from rq.job import Job

from controlplane.db import session_scope
from controlplane.errors import Invalid
from controlplane.jobs import queue
from controlplane.models import DeckKind
from controlplane.services.decks import import_deck
from controlplane.services.scope import Scope

QUEUE = "decks"
TIMEOUT = 3600


def enqueue_import(scope: Scope, name: str, csv_text: str, kind: DeckKind, currency: str) -> Job:
    job = queue(QUEUE).enqueue(run_import, scope, name, csv_text, kind.value, currency, job_timeout=TIMEOUT,
                               result_ttl=7 * 86400, failure_ttl=7 * 86400,
                               meta={"owner": scope.actor, "kind": "deck.import", "deck": name, "done": 0,
                                     "total": None})
    return job


def run_import(scope: Scope, name: str, csv_text: str, kind: str, currency: str) -> dict:
    job = get_current_job()

    def progress(done: int, total: int) -> None:
        if job is not None:
            job.meta.update(done=done, total=total)
            job.save_meta()

    try:
        with session_scope() as session:
            report = import_deck(session, scope, name, csv_text.splitlines(keepends=True), kind=DeckKind(kind),
                                 currency=currency, progress=progress)
    except Invalid as exc:
        return {"ok": False, "error": str(exc), "errors": exc.errors}
    return {"ok": True, "deck": report.name, "rows": report.rows, "version": report.version}
