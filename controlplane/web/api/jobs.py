"""/api/v1/jobs/{id}: a background job's state and progress, for the caller that started it (or an operator)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields
from rq.exceptions import NoSuchJobError
from rq.job import Job

from controlplane.errors import NotFound
from controlplane.jobs import connection
from controlplane.web.api.access import access, scope

blp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs", description="Background jobs")


class JobSchema(Schema):
    id = fields.String()
    kind = fields.String()
    status = fields.String(metadata={"description": "queued, started, finished, failed"})
    done = fields.Integer(allow_none=True)
    total = fields.Integer(allow_none=True)
    result = fields.Raw(allow_none=True, metadata={"description": "when finished: ok, rows or the bad lines"})


@blp.route("/<string:job_id>")
@access("jobs", "read")
@blp.response(200, JobSchema)
def get_job(job_id: str):
    try:
        job = Job.fetch(job_id, connection=connection())
    except (NoSuchJobError, ValueError):  # ValueError: not even a job id
        job = None
    caller = scope()
    if job is None or not (caller.everything or job.meta.get("owner") == caller.actor):
        raise NotFound(f"job {job_id} not found")
    status = job.get_status(refresh=True)
    return {"id": job.id, "kind": job.meta.get("kind"), "status": getattr(status, "value", status),
            "done": job.meta.get("done"), "total": job.meta.get("total"),
            "result": job.return_value() if status == "finished" else None}
