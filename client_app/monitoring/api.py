"""JSON: daily volume and fallback rate, latency, costs."""

from __future__ import annotations

from flask import Response

from client_app.auth.roles import require_role
from client_app.monitoring import bp, services
from client_app.responses import ok


@bp.get("/api/")
@require_role("viewer")
def api_monitoring() -> tuple[Response, int]:
    costs = [{**c, "created_at": c["created_at"].isoformat()} for c in services.costs()]
    return ok(
        "monitoring",
        {
            "daily": services.daily(),
            "latency": services.latency(),
            "latency_daily": services.latency_daily(),
            "costs": costs,
        },
    )
