"""Monitoring page."""

from __future__ import annotations

from flask import render_template

from client_app.auth.roles import require_role
from client_app.charts import line
from client_app.monitoring import bp, services


@bp.get("/")
@require_role("viewer")
def index() -> str:
    days = services.daily()
    return render_template(
        "monitoring/index.html",
        volume=line([(d["day"], d["n"]) for d in days], title="Recommendations per day"),
        fallback=line(
            [(d["day"], d["fallback_rate"] * 100) for d in days], title="Fallback rate per day (%)", fmt="{:.1f}"
        ),
        latency=services.latency(),
        costs=services.costs(),
    )
