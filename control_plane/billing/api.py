"""JSON API of billing."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_login import login_required

from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.billing import services
from control_plane.clients import services as clients
from control_plane.responses import ok
from control_plane.runtime import runtime

bp = Blueprint("billing_api", __name__, url_prefix="/api/billing")


@bp.get("/month")
@login_required
def month() -> Any:
    rt = runtime()
    value = services.check_month(request.args.get("month") or services.current_month())
    return ok(
        {
            "month": value,
            "total": services.month_total(rt, value),
            "per_client": services.month_by_client(rt, value),
            "per_service": services.by_service(rt, value),
            "daily": [{"day": str(d["day"]), "cost": d["cost"]} for d in services.daily(rt, value)],
        }
    )


@bp.get("/<client_id>/runs")
@login_required
def runs(client_id: str) -> Any:
    client = clients.get_client(client_id)
    rows = services.per_run(runtime(), client.client_id)
    return ok({"runs": [{**r, "started": str(r["started"])} for r in rows]})


@bp.post("/meter")
@require(Role.OPERATOR)
def meter() -> Any:
    rt = runtime()
    rows = clients.list_clients()
    added = services.meter_fleet(rt, rows)
    raised = services.raise_cost_alerts(rt, rows)
    return ok({"added": added, "alerts": raised}, "metered")
