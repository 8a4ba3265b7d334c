"""Training pages: launcher with estimate, run list, one run with live stages, logs, cancel, resume."""

from __future__ import annotations

from dataclasses import asdict

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from b2brec.errors import B2BRecError
from client_app import jobs
from client_app.auth.roles import require_role
from client_app.errors import fix_of
from client_app.training import bp, retrain, services


def _flash(exc: B2BRecError) -> None:
    flash(f"{exc.message}" + (f" — how to fix: {fix_of(exc)}" if fix_of(exc) else ""), "error")


@bp.get("/")
@require_role("viewer")
def index() -> str:
    defaults = services.parse_options({})
    return render_template(
        "training/index.html",
        defaults=asdict(defaults),
        tunable=services.TUNABLE,
        estimate=services.estimate(defaults),
        runs=jobs.recent("training", 50),
        shown_status=jobs.shown_status,
        quota=(services.runs_this_month(), services.limits().quota_per_month),
        retrain_schedule=retrain.schedule() or "",
        retrain_next=retrain.next_runs(),
    )


@bp.post("/schedule")
@require_role("member")
def set_schedule() -> Response:
    try:
        saved = retrain.set_schedule(request.form.get("retrain_schedule", ""), current_user.email)
        flash("scheduled retraining " + (f"on: {saved} (UTC)" if saved else "off"), "info")
    except B2BRecError as exc:
        _flash(exc)
    return redirect(url_for("training.index"))


@bp.post("/")
@require_role("member")
def start() -> Response:
    try:
        job = services.start(current_user, request.form.to_dict())
    except B2BRecError as exc:
        _flash(exc)
        return redirect(url_for("training.index"))
    if job.status == "awaiting_approval":
        flash(f"run #{job.id} is estimated at ${job.estimated_cost:.2f}: it waits for an admin's approval", "info")
    return redirect(url_for("training.detail", job_id=job.id))


@bp.get("/<int:job_id>")
@require_role("viewer")
def detail(job_id: int) -> str:
    job = jobs.get(job_id, "training")
    return render_template("training/detail.html", job=job, **_live(job))


def _live(job: object) -> dict[str, object]:
    return {"status": jobs.shown_status(job), "stages": services.stage_rows(job)}  # type: ignore[arg-type]


@bp.get("/<int:job_id>/fragment")
@require_role("viewer")
def fragment(job_id: int) -> str:
    job = jobs.get(job_id, "training")
    return render_template("training/_stages.html", job=job, **_live(job))


@bp.get("/<int:job_id>/logs/<stage>")
@require_role("viewer")
def logs(job_id: int, stage: str) -> str:
    return render_template("training/_log.html", text=services.stage_log(jobs.get(job_id, "training"), stage))


@bp.post("/<int:job_id>/cancel")
@require_role("member")
def cancel(job_id: int) -> Response:
    try:
        services.cancel(job_id, current_user.email)
    except B2BRecError as exc:
        _flash(exc)
    return redirect(url_for("training.detail", job_id=job_id))


@bp.post("/<int:job_id>/resume")
@require_role("member")
def resume(job_id: int) -> Response:
    try:
        services.resume(job_id, current_user.email)
        flash("resumed: the run continues at its first unfinished stage", "info")
    except B2BRecError as exc:
        _flash(exc)
    return redirect(url_for("training.detail", job_id=job_id))


@bp.post("/<int:job_id>/approve")
@require_role("admin")
def approve(job_id: int) -> Response:
    try:
        services.approve(job_id, current_user)
    except B2BRecError as exc:
        _flash(exc)
    return redirect(url_for("training.detail", job_id=job_id))
