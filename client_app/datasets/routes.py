"""Dataset pages: tables with counts, coverage chart, paged preview, saved views."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from b2brec.errors import B2BRecError
from client_app.auth.roles import require_role
from client_app.charts import bars
from client_app.datasets import bp, services
from client_app.errors import fix_of


@bp.get("/")
@require_role("viewer")
def index() -> str:
    chart = bars(services.coverage(), title="Sales lines per month", fmt="{:,.0f}")
    return render_template("datasets/index.html", tables=services.tables(), chart=chart, views=services.views())


@bp.get("/<dataset>/<table>")
@require_role("viewer")
def preview(dataset: str, table: str) -> str:
    number = request.args.get("page", "1")
    data = services.page(dataset, table, int(number) if number.isdigit() else 1)
    return render_template("datasets/table.html", dataset=dataset, table=table, data=data)


@bp.post("/views")
@require_role("member")
def create_view() -> Response:
    try:
        services.save_view(request.form.get("name"), request.form.get("sql"), current_user.email)
        flash("view saved", "info")
    except B2BRecError as exc:
        flash(f"{exc.message} — how to fix: {fix_of(exc) or ''}", "error")
    return redirect(url_for("datasets.index"))


@bp.get("/views/<int:view_id>")
@require_role("viewer")
def view(view_id: int) -> str:
    return render_template("datasets/view.html", data=services.run_view(view_id))
