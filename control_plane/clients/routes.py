"""Client registry pages: list, detail, pin, decommission, provisioning jobs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import login_required

from b2brec.errors import B2BRecError
from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.billing import services as billing
from control_plane.clients import services
from control_plane.errors import status_of
from control_plane.health import services as health
from control_plane.onboarding.services import spec_yaml
from control_plane.rollouts.services import rollback_client
from control_plane.runtime import runtime
from control_plane.templates import services as templates
from control_plane.web import actor, form_error

bp = Blueprint("clients", __name__)


@bp.get("/")
@login_required
def home() -> Any:
    return redirect(url_for("health.dashboard"))


@bp.get("/clients")
@login_required
def index() -> Any:
    rt = runtime()
    clients = services.list_clients()
    latest = health.latest_by_client()
    budgets = billing.budgets(rt, clients)
    return render_template("clients/index.html", clients=clients, latest=latest, budgets=budgets)


@bp.get("/clients/<client_id>")
@login_required
def detail(client_id: str) -> Any:
    rt = runtime()
    client = services.get_client(client_id)
    spec = services.client_spec(client)
    return render_template(
        "clients/detail.html",
        client=client,
        spec=spec,
        spec_text=spec_yaml(spec),
        info=services.details(rt, client),
        jobs=services.jobs_for(client_id),
        samples=health.history(client_id, limit=10),
        budget=billing.budgets(rt, [client]).get(client_id),
        runs=billing.per_run(rt, client_id),
        kept=templates.deployable(rt.settings.kept_versions),
        candidates=[v.version for v in templates.list_versions() if v.status.value == "candidate"],
    )


@bp.post("/clients/<client_id>/pin")
@require(Role.OPERATOR)
def pin(client_id: str) -> Any:
    services.set_pin(services.get_client(client_id), request.form.get("pinned") == "1", actor=actor())
    return redirect(url_for("clients.detail", client_id=client_id))


@bp.post("/clients/<client_id>/rollback")
@require(Role.OPERATOR)
def rollback(client_id: str) -> Any:
    try:
        job = rollback_client(runtime(), client_id, request.form.get("version", ""), actor=actor())
    except B2BRecError as exc:
        form_error(exc)
        return redirect(url_for("clients.detail", client_id=client_id)), 303
    return redirect(url_for("clients.job", job_id=job.id))


@bp.post("/clients/<client_id>/decommission")
@require(Role.ADMIN)
def decommission(client_id: str) -> Any:
    client = services.get_client(client_id)
    try:
        job = services.decommission(runtime(), client, confirm=request.form.get("confirm", ""), actor=actor())
    except B2BRecError as exc:
        form_error(exc)
        return redirect(url_for("clients.detail", client_id=client_id)), 303
    return redirect(url_for("clients.job", job_id=job.id))


@bp.get("/jobs/<int:job_id>")
@login_required
def job(job_id: int) -> Any:
    return render_template("clients/job.html", job=services.get_job(job_id))


@bp.post("/jobs/<int:job_id>/resume")
@require(Role.OPERATOR)
def resume(job_id: int) -> Any:
    try:
        services.resume_job(runtime(), job_id, actor=actor())
    except B2BRecError as exc:
        form_error(exc)
        return render_template("clients/job.html", job=services.get_job(job_id)), status_of(exc)
    return redirect(url_for("clients.job", job_id=job_id))
