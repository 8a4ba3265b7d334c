"""Monitoring's latency over time: p50/p99 per day from the prediction log the serving API writes
(``latency_ms`` of each request), charted; a log table made before the column existed is upgraded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from flask import Flask
from flask.testing import FlaskClient

from b2brec.prediction_log import SCHEMA, DuckDBSink
from b2brec.projects.local import LocalClientProject


def _rows(day: datetime, latencies: list[float], endpoint: str = "recommend") -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "recommendation_id": f"{day:%d}-{i}-{endpoint}",
                "request_id": f"{day:%d}-{i}-{endpoint}",
                "model_version": "v1",
                "endpoint": endpoint,
                "customer_id": "C1",
                "k": 10,
                "product_ids": ["P1"],
                "scores": [0.5],
                "fallback": False,
                "fallback_reason": None,
                "filters": "{}",
                "created_at": day + timedelta(minutes=i),
                "latency_ms": latency,
            }
            for i, latency in enumerate(latencies)
        ],
        schema=SCHEMA,
    )


def test_latency_p50_p99_per_day_from_the_prediction_log(
    app: Flask, project: LocalClientProject, signed_in: Callable[[str], tuple[FlaskClient, str]]
) -> None:
    warehouse = project.warehouse()
    # a log table from before latency was logged: the next write adds the column
    warehouse.execute("CREATE SCHEMA IF NOT EXISTS predictions")
    warehouse.execute(
        "CREATE TABLE predictions.recommendation_history (recommendation_id VARCHAR, request_id VARCHAR, "
        "model_version VARCHAR, endpoint VARCHAR, customer_id VARCHAR, k BIGINT, product_ids VARCHAR[], "
        "scores DOUBLE[], fallback BOOLEAN, fallback_reason VARCHAR, filters VARCHAR, created_at TIMESTAMPTZ)"
    )
    today = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0)
    sink = DuckDBSink(warehouse)
    sink.write(_rows(today - timedelta(days=2), [float(ms) for ms in range(1, 101)]))  # p50 ~50, p99 ~99
    sink.write(_rows(today - timedelta(days=1), [5.0] * 99 + [400.0]))  # a slow outlier: p99 jumps
    sink.write(_rows(today - timedelta(days=1), [900.0] * 50, endpoint="recommend-batch"))  # batches: not counted

    client, _ = signed_in("viewer")
    data = client.get("/monitoring/api/").get_json()["data"]["latency_daily"]
    assert [d["requests"] for d in data] == [100, 100]
    first, second = data
    assert 45 <= first["p50_ms"] <= 55 and 95 <= first["p99_ms"] <= 100
    assert second["p50_ms"] == 5.0 and second["p99_ms"] >= 5.0 and second["p99_ms"] <= 400.0
    page = client.get("/monitoring/").get_data(as_text=True)
    assert 'aria-label="Latency per day (ms, /recommend server time)"' in page
    assert page.count("<polyline") >= 3  # p50 and p99 lines, plus the volume chart
    assert f"p99 {(today - timedelta(days=2)).date()}" in page  # each point says what it is
