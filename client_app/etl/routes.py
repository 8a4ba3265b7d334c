"""ETL page: run now, live status, schedule with its next runs, history."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from b2brec.errors import B2BRecError
from client_app import jobs
from client_app.auth.roles import require_role
from client_app.errors import fix_of
from client_app.etl import bp, services


@bp.get("/")
@require_role("viewer")
def index() -> str:
    history: list[dict[str, object]] = []
    try:
        history = services.history()
    except B2BRecError as exc:
        flash(exc.message, "error")
    return render_template(
        "etl/index.html",
        schedule=services.schedule(),
        next_runs=services.next_runs(),
        jobs=jobs.recent("etl", 20),
        history=history,
        shown_status=jobs.shown_status,
    )


@bp.post("/run")
@require_role("member")
def run() -> Response:
    try:
        job = services.start(current_user.email, full_refresh=request.form.get("full_refresh") == "on")
        flash(f"ETL run #{job.id} queued", "info")
    except B2BRecError as exc:
        flash(f"{exc.message} — {fix_of(exc) or ''}", "error")
    return redirect(url_for("etl.index"))


@bp.get("/jobs/<int:job_id>/fragment")
@require_role("viewer")
def fragment(job_id: int) -> str:
    job = jobs.get(job_id, "etl")
    return render_template("etl/_job.html", job=job, status=jobs.shown_status(job))


@bp.post("/schedule")
@require_role("member")
def schedule() -> Response:
    try:
        services.set_schedule(request.form.get("schedule", ""), current_user.email)
        flash("schedule saved", "info")
    except B2BRecError as exc:
        flash(f"{exc.message} — {fix_of(exc) or ''}", "error")
    return redirect(url_for("etl.index"))
