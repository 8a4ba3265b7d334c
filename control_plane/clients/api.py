"""JSON API of the client registry."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_login import login_required

from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.billing import services as billing
from control_plane.clients import services
from control_plane.health import services as health
from control_plane.responses import ok
from control_plane.rollouts.services import rollback_client
from control_plane.runtime import runtime
from control_plane.web import actor

bp = Blueprint("clients_api", __name__, url_prefix="/api")


@bp.get("/clients")
@login_required
def clients() -> Any:
    rt = runtime()
    rows = services.list_clients()
    latest = health.latest_by_client()
    budgets = billing.budgets(rt, rows)
    data = []
    for client in rows:
        sample, view = latest.get(client.client_id), budgets.get(client.client_id)
        data.append(
            {
                **client.summary(),
                "healthy": None if sample is None else sample.healthy,
                "mtd_cost": None if view is None else round(view.mtd, 2),
            }
        )
    return ok({"clients": data})


@bp.get("/clients/<client_id>")
@login_required
def client(client_id: str) -> Any:
    row = services.get_client(client_id)
    return ok({"client": row.summary(), "details": services.details(runtime(), row), "spec_yaml": row.spec_yaml})


@bp.post("/clients/<client_id>/pin")
@require(Role.OPERATOR)
def pin(client_id: str) -> Any:
    payload = request.get_json(silent=True) or {}
    row = services.set_pin(services.get_client(client_id), bool(payload.get("pinned", True)), actor=actor())
    return ok({"client": row.summary()}, "pinned" if row.pinned else "unpinned")


@bp.post("/clients/<client_id>/rollback")
@require(Role.OPERATOR)
def rollback(client_id: str) -> Any:
    payload = request.get_json(silent=True) or {}
    job = rollback_client(runtime(), client_id, str(payload.get("version", "")), actor=actor())
    return ok({"job": job.to_dict()}, "queued", 202)


@bp.post("/clients/<client_id>/decommission")
@require(Role.ADMIN)
def decommission(client_id: str) -> Any:
    payload = request.get_json(silent=True) or {}
    job = services.decommission(
        runtime(), services.get_client(client_id), confirm=str(payload.get("confirm", "")), actor=actor()
    )
    return ok({"job": job.to_dict()}, "queued", 202)


@bp.get("/jobs/<int:job_id>")
@login_required
def job(job_id: int) -> Any:
    return ok({"job": services.get_job(job_id).to_dict()})
