"""The dashboard page."""

from __future__ import annotations

from flask import render_template

from client_app import jobs
from client_app.auth.roles import require_role
from client_app.charts import bars
from client_app.dashboard import bp, services


@bp.get("/")
@require_role("viewer")
def index() -> str:
    data = services.summary()
    chart = None
    run = (data.get("live") or {}).get("run")
    if run:
        k = 100 if "all/recall@100" in run["metrics"] else 10
        series = [("two-tower (live)", float(run["metrics"].get(f"all/recall@{k}", 0)))]
        series += [(name, float(v.get(f"all/recall@{k}", 0))) for name, v in sorted(run["baselines"].items())]
        chart = bars(series, title=f"Recall@{k} of the live model and the baselines")
    return render_template("dashboard/index.html", data=data, chart=chart, shown_status=jobs.shown_status)
