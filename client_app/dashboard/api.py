"""JSON: the dashboard's figures."""

from __future__ import annotations

from flask import Response

from client_app import jobs
from client_app.auth.roles import require_role
from client_app.dashboard import bp, services
from client_app.responses import ok


@bp.get("/api/")
@require_role("viewer")
def api_summary() -> tuple[Response, int]:
    data = services.summary()
    fresh = data.get("freshness") or {}
    live = data.get("live") or {}
    return ok(
        "dashboard",
        {
            "rows": fresh.get("rows"),
            "last_sale": fresh["last_sale"].isoformat() if fresh.get("last_sale") else None,
            "last_etl": [{"id": j.id, "status": jobs.shown_status(j)} for j in data["last_etl"]],
            "last_training": [{"id": j.id, "status": jobs.shown_status(j)} for j in data["last_training"]],
            "live_version": live.get("version"),
            "predictions_month": data.get("predictions_month"),
            "cost_month_usd": data["cost_month"],
        },
    )
