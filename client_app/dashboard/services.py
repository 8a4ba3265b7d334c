"""The dashboard's figures, each from the one place that owns it."""

from __future__ import annotations

from typing import Any

from b2brec.errors import B2BRecError
from b2brec.prediction_log import DATASET, TABLE
from client_app import jobs
from client_app.deployments.services import current_version
from client_app.experiments.services import finished_run
from client_app.extensions import db
from client_app.models import Job, utcnow
from client_app.warehouse import query, table_exists


def month_start() -> Any:
    return utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def warehouse_figures() -> dict[str, Any]:
    """Sales lines, last sale and recommendations this month, in one warehouse query."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    if table_exists("raw_data", "transactions"):
        parts += [
            "(SELECT COUNT(*) FROM raw_data.transactions) AS n",
            "(SELECT MAX(timestamp) FROM raw_data.transactions) AS last_sale",
        ]
    if table_exists(DATASET, TABLE):
        parts.append(f"(SELECT COUNT(*) FROM {DATASET}.{TABLE} WHERE created_at >= @start) AS predictions")
        params["start"] = month_start()
    row = query(f"SELECT {', '.join(parts)}", params)[0] if parts else {}
    return {
        "freshness": {"rows": int(row.get("n") or 0), "last_sale": row.get("last_sale")},
        "predictions_month": int(row.get("predictions") or 0),
    }


def cost_this_month() -> float:
    total = db.session.scalar(
        db.select(db.func.coalesce(db.func.sum(Job.metered_cost), 0.0)).where(Job.created_at >= month_start())
    )
    return float(total or 0.0)


def live_model() -> dict[str, Any]:
    """The live version and, when it came from a pipeline run here, that run's metrics."""
    version = current_version()
    return {"version": version, "run": finished_run(version) if version else None}


def summary() -> dict[str, Any]:
    data: dict[str, Any] = {
        "last_etl": jobs.recent("etl", 1),
        "last_training": [j for j in jobs.recent("training", 10) if j.status != "skipped"][:1],  # not a skipped check
        "cost_month": cost_this_month(),
    }
    try:
        data.update(warehouse_figures())
    except B2BRecError as exc:
        data.update(freshness=None, predictions_month=None, errors=[exc.message])
    try:
        data["live"] = live_model()
    except B2BRecError as exc:
        data["live"] = None
        data.setdefault("errors", []).append(exc.message)
    return data
