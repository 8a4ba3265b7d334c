"""Monitoring figures: the prediction log (volume, fallback rate, latency p50/p99 per day), the
serving API's own latency histogram (p50/p99 since its start, from ``/metrics``), and metered
training cost."""

from __future__ import annotations

import re
from typing import Any

import httpx

from b2brec.prediction_log import DATASET, TABLE
from client_app.client import current_client
from client_app.errors import AppError
from client_app.extensions import db
from client_app.models import Job
from client_app.warehouse import query, table_exists

_BUCKET = re.compile(r"^(\w+_seconds)_bucket\{(?P<labels>[^}]*)\} (?P<count>[0-9.e+]+)$")


def daily(days: int = 30) -> list[dict[str, Any]]:
    if not table_exists(DATASET, TABLE):
        return []
    rows = query(
        f"SELECT DATE(created_at) AS day, COUNT(*) AS n, AVG(IF(fallback, 1.0, 0.0)) AS fallback_rate "
        f"FROM {DATASET}.{TABLE} WHERE created_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY) "
        f"GROUP BY day ORDER BY day",
        {"days": days},
    )
    return [{"day": str(r["day"]), "n": int(r["n"]), "fallback_rate": float(r["fallback_rate"] or 0)} for r in rows]


def latency_daily(days: int = 30) -> list[dict[str, Any]]:
    """Per day: p50 and p99 of the server time of single ``/recommend`` requests (one log row each),
    from the prediction log; days before the log kept latency have none."""
    if not table_exists(DATASET, TABLE):
        return []
    rows = query(
        "SELECT DATE(created_at) AS day, COUNT(*) AS n, "
        "APPROX_QUANTILES(latency_ms, 100)[OFFSET(50)] AS p50, APPROX_QUANTILES(latency_ms, 100)[OFFSET(99)] AS p99 "
        f"FROM {DATASET}.{TABLE} WHERE endpoint = 'recommend' AND latency_ms IS NOT NULL "
        "AND created_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY) GROUP BY day ORDER BY day",
        {"days": days},
    )
    return [
        {"day": str(r["day"]), "requests": int(r["n"]), "p50_ms": float(r["p50"]), "p99_ms": float(r["p99"])}
        for r in rows
        if r["p50"] is not None
    ]


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile from cumulative (upper bound, count) pairs, interpolated inside its bucket."""
    if not buckets or buckets[-1][1] == 0:
        return None
    target = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= target:
            if upper == float("inf"):
                return lower
            span = count - below
            return lower + (upper - lower) * ((target - below) / span if span else 0)
        lower, below = upper, count
    return None


def latency() -> dict[str, Any]:
    """p50/p99 of the serving API's request latency since it started (its Prometheus histogram)."""
    try:
        text = httpx.get(f"{current_client().serving_url}/metrics", timeout=5).text
    except (httpx.HTTPError, AppError):
        return {"available": False}
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        match = _BUCKET.match(line)
        if match and "recommend" in match.group("labels") and "batch" not in match.group("labels"):
            le = re.search(r'le="([^"]+)"', match.group("labels"))
            if le:
                bound = float("inf") if le.group(1) == "+Inf" else float(le.group(1))
                buckets[bound] = buckets.get(bound, 0.0) + float(match.group("count"))
    ordered = sorted(buckets.items())
    p50, p99 = quantile(ordered, 0.5), quantile(ordered, 0.99)
    return {
        "available": bool(ordered),
        "p50_ms": p50 * 1000 if p50 is not None else None,
        "p99_ms": p99 * 1000 if p99 is not None else None,
        "requests": ordered[-1][1] if ordered else 0,
    }


def costs() -> list[dict[str, Any]]:
    rows = db.session.execute(
        db.select(Job.id, Job.run_id, Job.created_at, Job.metered_cost, Job.estimated_cost)
        .where(Job.kind == "training", Job.status != "skipped")
        .order_by(Job.created_at.desc())
        .limit(50)
    )
    return [dict(r._mapping) for r in rows]
