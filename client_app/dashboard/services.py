"""The dashboard's figures, each from the one place that owns it."""

from __future__ import annotations

from typing import Any

from b2brec.errors import B2BRecError
from b2brec.prediction_log import DATASET, TABLE
from client_app import jobs
from client_app.deployments.services import current_version
from client_app.experiments.services import finished_runs
from client_app.extensions import db
from client_app.models import Job, utcnow
from client_app.warehouse import query, table_exists


def freshness() -> dict[str, Any]:
    if not table_exists("raw_data", "transactions"):
        return {"rows": 0, "last_sale": None}
    row = query("SELECT COUNT(*) AS n, MAX(timestamp) AS last FROM raw_data.transactions")[0]
    return {"rows": int(row["n"] or 0), "last_sale": row["last"]}


def month_start() -> Any:
    return utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def predictions_this_month() -> int:
    if not table_exists(DATASET, TABLE):
        return 0
    rows = query(f"SELECT COUNT(*) AS n FROM {DATASET}.{TABLE} WHERE created_at >= @start", {"start": month_start()})
    return int(rows[0]["n"] or 0)


def cost_this_month() -> float:
    total = db.session.scalar(
        db.select(db.func.coalesce(db.func.sum(Job.metered_cost), 0.0)).where(Job.created_at >= month_start())
    )
    return float(total or 0.0)


def live_model() -> dict[str, Any]:
    version = current_version()
    run = next((r for r in finished_runs() if r["run_id"] == version), None)
    return {"version": version, "run": run}


def summary() -> dict[str, Any]:
    data: dict[str, Any] = {
        "last_etl": jobs.recent("etl", 1),
        "last_training": jobs.recent("training", 1),
        "cost_month": cost_this_month(),
    }
    for key, read in (("freshness", freshness), ("predictions_month", predictions_this_month), ("live", live_model)):
        try:
            data[key] = read()
        except B2BRecError as exc:
            data[key] = None
            data.setdefault("errors", []).append(exc.message)
    return data
