"""Prediction logging into a real DuckDB warehouse: batched off the request path, flushed on
shutdown, the file left free between flushes, rows kept and retried while it is locked."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient

from b2brec.backends.warehouse import BigQueryWarehouse, DuckDBWarehouse
from b2brec.prediction_log import SCHEMA, BigQuerySink, DuckDBSink, bigquery_rows
from serving.model.state import build_state
from serving.predictions import PredictionEntry, PredictionLogger
from serving.recommend import Recommendation
from serving.synthetic import synthetic_bundle

HOLD_LOCK = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
conn.execute("CREATE TABLE IF NOT EXISTS lock_probe (x INT)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def _history(warehouse: DuckDBWarehouse) -> list[dict]:
    return warehouse.query(
        "SELECT recommendation_id, model_version, endpoint, customer_id, product_ids, fallback "
        "FROM predictions.recommendation_history ORDER BY created_at, recommendation_id"
    ).to_pylist()


def test_requests_are_logged_and_flushed_on_shutdown(app: FastAPI, warehouse: DuckDBWarehouse) -> None:
    with TestClient(app) as client:
        single = client.post("/recommend", json={"customer_id": "c1", "k": 3}).json()["data"]
        batch = client.post("/recommend-batch", json={"customer_ids": ["c2", "nobody"], "k": 2}).json()["data"]
    rows = {row["recommendation_id"]: row for row in _history(warehouse)}
    assert len(rows) == 3
    logged = rows[single["recommendation_id"]]
    assert logged["model_version"] == "v1" and logged["endpoint"] == "recommend" and logged["customer_id"] == "c1"
    assert logged["product_ids"] == [item["product_id"] for item in single["items"]]
    stranger = rows[batch["results"][1]["recommendation_id"]]
    assert stranger["fallback"] is True and stranger["endpoint"] == "recommend-batch"


def test_warehouse_file_is_free_between_flushes(app: FastAPI, warehouse: DuckDBWarehouse) -> None:
    with TestClient(app) as client:
        client.post("/recommend", json={"customer_id": "c1"})
        deadline = time.monotonic() + 10
        while not warehouse.path.exists() or not warehouse.table_exists("predictions", "recommendation_history"):
            assert time.monotonic() < deadline, "the background flush never wrote"
            time.sleep(0.1)
        # Another process takes the file read-write while the service runs: DuckDB would refuse
        # if the service still held it.
        other = subprocess.run([sys.executable, "-c", HOLD_LOCK, str(warehouse.path), "0"], capture_output=True)
        assert other.returncode == 0, other.stderr.decode()[-500:]


def _entry(state_version: str = "v1") -> PredictionEntry:

    state = build_state(synthetic_bundle(state_version, n_products=50, n_customers=5), approx_threshold=10**9)

    recs = [Recommendation("c1", np.array([3, 1]), [2.5, 1.0], False, None)]
    return PredictionEntry(state, "req-1", ["rec-1"], "recommend", 2, recs, {"exclude_purchased": False})


def test_rows_survive_a_locked_warehouse(warehouse: DuckDBWarehouse) -> None:
    # lock_wait_s=0: fail at once while locked (the default waits for a short hold to end)
    logger = PredictionLogger(DuckDBSink(DuckDBWarehouse(warehouse.path, lock_wait_s=0)), flush_interval_s=60)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(warehouse.path), "3"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        logger.log(_entry())
        assert logger.flush() == 0  # locked by the other process: kept for the next try
    finally:
        holder.wait(timeout=30)
        holder.stdout.close()
    logger.log(_entry())
    assert logger.flush() == 2
    rows = _history(warehouse)
    assert [r["product_ids"] for r in rows] == [["p3", "p1"], ["p3", "p1"]]


def test_bigquery_sink_builds_streaming_rows() -> None:
    created = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    table = pa.Table.from_pylist(
        [
            {
                "recommendation_id": "r",
                "request_id": "q",
                "model_version": "v1",
                "endpoint": "recommend",
                "customer_id": "c",
                "k": 2,
                "product_ids": ["p1", "p2"],
                "scores": [1.0, 0.5],
                "fallback": False,
                "fallback_reason": None,
                "filters": "{}",
                "created_at": created,
            }
        ],
        schema=SCHEMA,
    )
    rows = bigquery_rows(table)
    assert rows[0]["created_at"] == "2026-03-01T12:00:00+00:00" and rows[0]["product_ids"] == ["p1", "p2"]
    sink = BigQuerySink(BigQueryWarehouse("client-acme-prod", "europe-west1"))
    assert sink.table_id == "client-acme-prod.predictions.recommendation_history"


class RecordingSession(requests.Session):
    """Records what the BigQuery client sends; answers like the API does for a project whose
    prediction table does not exist yet (GET table -> 404)."""

    is_mtls = False  # what google-cloud's AuthorizedSession would say without client certificates

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, object]] = []

    def request(self, method: str, url: str, **kwargs: object) -> requests.Response:  # type: ignore[override]
        body = kwargs.get("data")
        payload = json.loads(body) if isinstance(body, str | bytes) and body else None
        path = urlsplit(url).path
        self.sent.append((method, path, payload))
        response = requests.Response()
        response.headers["Content-Type"] = "application/json"
        if method == "GET" and "/tables/" in path:
            response.status_code, answer = 404, {"error": {"code": 404, "message": "Not found: Table"}}
        elif method == "POST" and path.endswith("/tables"):
            response.status_code, answer = 200, payload
        else:
            response.status_code, answer = 200, {}
        response._content = json.dumps(answer).encode()
        response.url = url
        response.request = requests.Request(method, url).prepare()
        return response


def test_bigquery_sink_creates_the_missing_table_then_streams_rows() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    session = RecordingSession()
    client = bigquery.Client(project="client-acme-prod", credentials=AnonymousCredentials(), _http=session)
    sink = BigQuerySink(BigQueryWarehouse("client-acme-prod", "europe-west1", client=client))
    created = datetime(2026, 3, 1, 12, tzinfo=UTC)
    row = {c: None for c in SCHEMA.names} | {"recommendation_id": "r1", "customer_id": "c1", "created_at": created}
    sink.write(pa.Table.from_pylist([row | {"product_ids": ["p1"], "scores": [0.5]}], schema=SCHEMA))
    sink.write(pa.Table.from_pylist([row | {"recommendation_id": "r2"}], schema=SCHEMA))

    methods = [(method, path.removeprefix("/bigquery/v2")) for method, path, _ in session.sent]
    table_path = "/projects/client-acme-prod/datasets/predictions/tables/recommendation_history"
    assert methods == [
        ("GET", table_path),
        ("POST", "/projects/client-acme-prod/datasets/predictions/tables"),
        ("POST", f"{table_path}/insertAll"),
        ("POST", f"{table_path}/insertAll"),  # the table is checked once, not per write
    ]
    definition = session.sent[1][2]
    assert definition["timePartitioning"] == {"type": "DAY", "field": "created_at"}
    fields = {f["name"]: (f["type"], f["mode"]) for f in definition["schema"]["fields"]}
    assert fields["product_ids"] == ("STRING", "REPEATED") and fields["created_at"] == ("TIMESTAMP", "NULLABLE")
    assert list(fields) == SCHEMA.names
    inserted = session.sent[2][2]["rows"][0]["json"]
    assert inserted["recommendation_id"] == "r1" and inserted["created_at"] == "2026-03-01T12:00:00+00:00"
