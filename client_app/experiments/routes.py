"""Experiments pages: the run list with Recall@k, and the comparison (table and chart)."""

from __future__ import annotations

from flask import render_template, request

from client_app.auth.roles import require_role
from client_app.charts import grouped
from client_app.client import current_client
from client_app.errors import AppError
from client_app.experiments import bp, services


@bp.get("/")
@require_role("viewer")
def index() -> str:
    runs = services.finished_runs()
    ks = services.recall_ks(runs[0]["metrics"]) if runs else []
    return render_template("experiments/index.html", runs=runs, ks=ks, mlflow_url=_mlflow())


@bp.get("/compare")
@require_role("viewer")
def compare() -> str:
    chosen = [r for r in request.args.getlist("run") if r]
    result = services.compare(chosen)
    chart = grouped([f"recall@{k}" for k in result["ks"]], result["series"], title="Recall@k on the test period")
    return render_template("experiments/compare.html", result=result, chart=chart, mlflow_url=_mlflow())


def _mlflow() -> str | None:
    try:
        return current_client().mlflow_url
    except AppError:
        return None
