"""JSON: start a run, follow its stages, cancel, resume."""

from __future__ import annotations

from flask import Response, current_app, request
from flask_login import current_user

from client_app import jobs
from client_app.auth.roles import require_role
from client_app.extensions import csrf
from client_app.models import Job
from client_app.responses import ok
from client_app.training import bp, invoker, retrain, services


def run_json(job: Job) -> dict[str, object]:
    return {
        "id": job.id,
        "run_id": job.run_id,
        "status": jobs.shown_status(job),
        "message": job.message,
        "estimated_cost_usd": job.estimated_cost,
        "metered_cost_usd": job.metered_cost,
        "stages": [
            {k: r.get(k) for k in ("stage", "status", "job_id", "reason", "duration")} for r in services.stage_rows(job)
        ],
        "fix": job.error_fix,
        "scheduled": bool((job.progress or {}).get("scheduled")),
        "skip_reason": (job.progress or {}).get("skip"),
        "comparison": (job.progress or {}).get("comparison"),
    }


@bp.post("/api/runs")
@require_role("member")
def api_start() -> tuple[Response, int]:
    job = services.start(current_user, request.get_json(silent=True) or {})
    return ok(f"training run #{job.id} {job.status}", run_json(job), 202)


@bp.get("/api/runs/<int:job_id>")
@require_role("viewer")
def api_run(job_id: int) -> tuple[Response, int]:
    job = jobs.get(job_id, "training")
    return ok(f"run #{job.id}: {jobs.shown_status(job)}", run_json(job))


@bp.post("/api/runs/<int:job_id>/cancel")
@require_role("member")
def api_cancel(job_id: int) -> tuple[Response, int]:
    return ok("cancelled", run_json(services.cancel(job_id, current_user.email)))


@bp.post("/api/runs/<int:job_id>/resume")
@require_role("member")
def api_resume(job_id: int) -> tuple[Response, int]:
    return ok("resumed", run_json(services.resume(job_id, current_user.email)), 202)


@bp.get("/api/estimate")
@require_role("viewer")
def api_estimate() -> tuple[Response, int]:
    return ok("estimate", services.estimate(services.parse_options(request.args.to_dict())))


@bp.get("/api/schedule")
@require_role("viewer")
def api_schedule() -> tuple[Response, int]:
    cron = retrain.schedule()
    return ok(
        "scheduled retraining " + ("on" if cron else "off"),
        {"schedule": cron, "next_runs": [t.isoformat() for t in retrain.next_runs()]},
    )


@bp.post("/api/schedule")
@require_role("member")
def api_set_schedule() -> tuple[Response, int]:
    body = request.get_json(silent=True) or {}
    cron = retrain.set_schedule(body.get("schedule"), current_user.email)
    return ok("scheduled retraining " + ("on" if cron else "off"), {"schedule": cron})


@bp.post("/api/scheduled-check")
@csrf.exempt
def api_scheduled_check() -> tuple[Response, int]:
    """One retraining check, called by the stack's Cloud Scheduler job with its OIDC token (GCP)."""
    invoker.verify(request.headers.get("Authorization", ""), current_app.config["B2BREC_APP"])
    job = retrain.run_scheduled()
    return ok(f"retraining check: {job.status}", run_json(job), 202 if job.status != "skipped" else 200)
