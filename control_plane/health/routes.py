"""The fleet dashboard (unhealthy clients first) and liveness of the app itself."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import login_required

from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.billing import services as billing
from control_plane.clients import services as clients
from control_plane.health import services
from control_plane.responses import ok
from control_plane.runtime import runtime
from control_plane.timeutil import utcnow

bp = Blueprint("health", __name__)


def dashboard_data() -> dict[str, Any]:
    rt = runtime()
    rows = clients.list_clients()
    runs = billing.run_counts(rt, utcnow())
    month_rows = billing.month_by_client(rt, billing.current_month())
    total = sum(float(r["cost"] or 0) for r in month_rows)
    summary = services.fleet_summary(runs)
    summary["avg_cost_per_client"] = round(total / len(rows), 2) if rows else 0.0
    budgets = billing.budgets(rt, rows, month_rows=month_rows)
    return {"summary": summary, "rows": services.ordered_for_dashboard(rows), "budgets": budgets}


@bp.get("/dashboard")
@login_required
def dashboard() -> Any:
    from control_plane.alerts.services import recent

    return render_template("health/dashboard.html", alerts=recent(10), **dashboard_data())


@bp.post("/dashboard/poll")
@require(Role.OPERATOR)
def poll() -> Any:
    results = services.poll_fleet(runtime())
    flash(f"polled {len(results)} clients", "info")
    return redirect(url_for("health.dashboard"))


@bp.get("/healthz")
def live() -> Any:
    return ok({"alive": True}, "alive")
