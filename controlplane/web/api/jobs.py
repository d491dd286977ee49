"""/api/v1/jobs/{id}: a background job's state and progress, for the caller that started it (or an operator)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from controlplane.jobs import job_state
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
    return job_state(job_id, scope())
