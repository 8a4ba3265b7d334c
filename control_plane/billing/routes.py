"""Billing pages: fleet month view, per-client view, statements (CSV and printable HTML)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_login import login_required

from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.billing import services
from control_plane.clients import services as clients
from control_plane.runtime import runtime

bp = Blueprint("billing", __name__, url_prefix="/billing")


@bp.get("/")
@login_required
def index() -> Any:
    rt = runtime()
    month = services.check_month(request.args.get("month") or services.current_month())
    rows = clients.list_clients()
    days = services.daily(rt, month)
    return render_template(
        "billing/index.html",
        month=month,
        per_client=services.month_by_client(rt, month),
        per_service=services.by_service(rt, month),
        total=services.month_total(rt, month),
        budgets=services.budgets(rt, rows),
        anomalies=services.anomalies(rt, factor=rt.settings.anomaly_factor),
        chart=services.bar_chart_svg([(str(d["day"]), float(d["cost"] or 0)) for d in days]),
        metered=rt.billing.metered,
    )


@bp.post("/meter")
@require(Role.OPERATOR)
def meter() -> Any:
    rt = runtime()
    rows = clients.list_clients()
    added = services.meter_fleet(rt, rows)
    services.raise_cost_alerts(rt, rows)
    from flask import flash, redirect, url_for

    flash(f"metered {added['jobs']} jobs and {added['daily']} client-days", "info")
    return redirect(url_for("billing.index"))


@bp.get("/<client_id>/<month>")
@login_required
def client_statement(client_id: str, month: str) -> Any:
    rt = runtime()
    client = clients.get_client(client_id)
    statement = services.statement(rt, client.client_id, services.check_month(month))
    if request.args.get("format") == "csv":
        return Response(
            statement.csv(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{client.client_id}-{month}.csv"'},
        )
    days = services.daily(rt, month, client.client_id)
    return render_template(
        "billing/statement.html",
        client=client,
        statement=statement,
        services=services.by_service(rt, month, client.client_id),
        chart=services.bar_chart_svg([(str(d["day"]), float(d["cost"] or 0)) for d in days]),
    )
