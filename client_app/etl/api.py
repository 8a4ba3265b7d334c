"""JSON: start a run, follow it, read the history."""

from __future__ import annotations

from flask import Response, request
from flask_login import current_user

from client_app import jobs
from client_app.auth.roles import require_role
from client_app.etl import bp, services
from client_app.models import Job
from client_app.responses import ok


def job_json(job: Job) -> dict[str, object]:
    return {
        "id": job.id,
        "status": jobs.shown_status(job),
        "message": job.message,
        "run_id": job.run_id,
        "requested_by": job.requested_by,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error_code": job.error_code,
        "fix": job.error_fix,
        "progress": job.progress,
    }


@bp.post("/api/run")
@require_role("member")
def api_run() -> tuple[Response, int]:
    body = request.get_json(silent=True) or {}
    job = services.start(current_user.email, full_refresh=bool(body.get("full_refresh")))
    return ok(f"ETL run #{job.id} queued", job_json(job), 202)


@bp.get("/api/jobs/<int:job_id>")
@require_role("viewer")
def api_job(job_id: int) -> tuple[Response, int]:
    job = jobs.get(job_id, "etl")
    return ok(f"ETL run #{job.id}: {jobs.shown_status(job)}", job_json(job))


@bp.get("/api/history")
@require_role("viewer")
def api_history() -> tuple[Response, int]:
    rows = services.history()
    return ok(
        f"{len(rows)} runs",
        [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows],
    )
