"""Monitoring page."""

from __future__ import annotations

from flask import render_template

from client_app.auth.roles import require_role
from client_app.charts import line, lines
from client_app.monitoring import bp, services


@bp.get("/")
@require_role("viewer")
def index() -> str:
    days = services.daily()
    latency_days = services.latency_daily()
    return render_template(
        "monitoring/index.html",
        volume=line([(d["day"], d["n"]) for d in days], title="Recommendations per day"),
        fallback=line(
            [(d["day"], d["fallback_rate"] * 100) for d in days], title="Fallback rate per day (%)", fmt="{:.1f}"
        ),
        latency=services.latency(),
        latency_series=lines(
            [d["day"] for d in latency_days],
            {"p50": [d["p50_ms"] for d in latency_days], "p99": [d["p99_ms"] for d in latency_days]},
            title="Latency per day (ms, /recommend server time)",
        ),
        costs=services.costs(),
    )
