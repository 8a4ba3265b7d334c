"""JSON API of fleet health."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_login import login_required

from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.health import services
from control_plane.health.routes import dashboard_data
from control_plane.responses import ok
from control_plane.runtime import runtime

bp = Blueprint("health_api", __name__, url_prefix="/api/health")


@bp.get("")
@login_required
def fleet() -> Any:
    data = dashboard_data()
    return ok(
        {
            "summary": data["summary"],
            "clients": [
                {
                    "client_id": c.client_id,
                    "healthy": None if s is None else s.healthy,
                    "checks": None if s is None else s.checks,
                }
                for c, s in data["rows"]
            ],
        }
    )


@bp.post("/poll")
@require(Role.OPERATOR)
def poll() -> Any:
    results = services.poll_fleet(runtime())
    return ok({"results": [{"client_id": r.client_id, "healthy": r.healthy, "checks": r.checks} for r in results]})
