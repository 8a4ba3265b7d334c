"""The BigQuery backend's own code against a real BigQuery REST API (bqemulator, ``tests/bigquery_emulator.py``):
serving's history queries, the prediction log's table and streaming inserts, and the ETL's dlt loads into
``raw_data`` (full, then incremental merge) from a real PostgreSQL source.

Each test writes through the backend and reads back what the emulator stored, so a wrong table, column,
type or statement fails here, not only in production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cached_property

import pyarrow as pa
import pytest
import sqlalchemy as sa

from b2brec import prediction_log
from b2brec.backends.factory import ClientBackends
from b2brec.backends.warehouse import BIGQUERY_EMULATOR_HOST, BigQueryWarehouse, Warehouse
from b2brec.context import ClientContext
from b2brec.etl import list_runs, run_etl
from b2brec.naming import DATASETS
from b2brec.settings import Settings
from b2brec.spec.clientspec import RowRules
from serving.history import HistoryItem, load_history
from tests import bigquery_emulator as emulator
from tests.etl.conftest import make_client
from tests.etl.sourcedb import BASE_TIME, SALES, insert_sales, source_sales, update_sales

bigquery_emulator = emulator.bigquery_emulator


@pytest.fixture
def emulated(bigquery_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """google-cloud-bigquery (ours and dlt's clients) pointed at the emulator for this test."""
    monkeypatch.setenv(BIGQUERY_EMULATOR_HOST, bigquery_emulator)
    # The emulator reads load files uncompressed only (BigQuery also takes gzip): dlt's JSONL state files
    # are written plain here; the data itself is Parquet either way.
    monkeypatch.setenv("NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION", "true")
    return bigquery_emulator


def warehouse_with_datasets(project: str) -> BigQueryWarehouse:
    """The client's warehouse with its datasets, as the client stack's Terraform creates them."""
    warehouse = BigQueryWarehouse(project, "europe-west1")
    for dataset in DATASETS:
        warehouse.client.create_dataset(f"{project}.{dataset}", exists_ok=True)
    warehouse.ensure_datasets()
    return warehouse


def test_serving_history_runs_its_queries_and_row_rules_in_bigquery(emulated: str) -> None:
    warehouse = warehouse_with_datasets("bqemu-history")
    warehouse.execute(
        "CREATE TABLE raw_data.transactions (transaction_id STRING, invoice_id STRING, customer_id STRING, "
        "product_id STRING, quantity FLOAT64, revenue FLOAT64, `timestamp` TIMESTAMP)"
    )
    warehouse.execute(
        "INSERT INTO raw_data.transactions VALUES "
        "('1', 'I1', 'A', 'P1', 2, 20.0, TIMESTAMP '2026-03-01 10:00:00+00'),"
        "('2', 'I2', 'A', 'P1', 1, 10.0, TIMESTAMP '2026-03-05 10:00:00+00'),"
        "('3', 'I2', 'A', 'P2', 4, 8.0, TIMESTAMP '2026-03-05 10:00:00+00'),"
        "('4', 'C9', 'A', 'P3', 1, 5.0, TIMESTAMP '2026-03-06 10:00:00+00'),"  # a cancellation invoice
        "('5', 'I3', 'B', 'POST', 1, 4.5, TIMESTAMP '2026-03-02 10:00:00+00'),"  # postage, not a product
        "('6', 'I3', 'B', 'P2', 3, 6.0, TIMESTAMP '2026-03-02 10:00:00+00'),"
        "('7', 'I4', 'B', 'P2', -3, -6.0, TIMESTAMP '2026-03-03 10:00:00+00')"  # returned in full
    )
    warehouse.execute("CREATE TABLE raw_data.customers (customer_id STRING, city STRING)")
    warehouse.execute("INSERT INTO raw_data.customers VALUES ('A', 'Lyon'), ('B', NULL), ('C', 'Porto')")
    rules = RowRules(cancellation_prefixes=["C"], negative_quantity="net", exclude_products=["POST"])

    history = load_history(warehouse, rules)

    mar5 = datetime(2026, 3, 5, 10, tzinfo=UTC).timestamp()
    # A: the cancellation is dropped, P1's two lines are counted together. B: postage excluded, and the
    # purchase of P2 returned in full disappears, so B has no purchases left.
    assert history.purchases == {"A": [HistoryItem("P1", 2, mar5, 30.0), HistoryItem("P2", 1, mar5, 8.0)]}
    assert history.cities == {"A": "Lyon", "C": "Porto"}
    assert history.excluded_products == frozenset({"POST"})
    before = load_history(warehouse, rules, until=datetime(2026, 3, 4, tzinfo=UTC).timestamp())
    assert [i.product_id for i in before.items("A")] == ["P1"] and before.items("A")[0].count == 1


def _rows(n: int, model: str) -> pa.Table:
    created = datetime(2026, 11, 30, 12, tzinfo=UTC)
    return pa.Table.from_pylist(
        [
            {
                "recommendation_id": f"r{i}",
                "request_id": "q1",
                "model_version": model,
                "endpoint": "recommend-batch",
                "customer_id": f"C{i}",
                "k": 2,
                "product_ids": ["P1", f"P{i + 2}"],
                "scores": [0.75, 0.25],
                "fallback": i == 0,
                "fallback_reason": "unknown customer" if i == 0 else None,
                "filters": '{"category": "dry"}',
                "created_at": created + timedelta(seconds=i),
                "latency_ms": 1.5 * i,
            }
            for i in range(n)
        ],
        schema=prediction_log.SCHEMA,
    )


def test_prediction_sink_creates_its_table_and_streams_rows(emulated: str) -> None:
    warehouse = warehouse_with_datasets("bqemu-predictions")
    assert not warehouse.table_exists(prediction_log.DATASET, prediction_log.TABLE)
    sink = warehouse.prediction_sink()
    sink.write(_rows(3, "v1"))
    sink.write(_rows(1, "v2"))  # the table is made once; a second batch appends

    table = warehouse.client.get_table(f"bqemu-predictions.{prediction_log.DATASET}.{prediction_log.TABLE}")
    standard = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}  # the API may answer legacy names
    assert [(f.name, standard.get(f.field_type, f.field_type), f.mode) for f in table.schema] == [
        (c.name, c.bq_type, "REPEATED" if c.repeated else "NULLABLE") for c in prediction_log.COLUMNS
    ]
    assert table.time_partitioning.field == prediction_log.PARTITION_FIELD
    stored = warehouse.query(
        f"SELECT * FROM {prediction_log.DATASET}.{prediction_log.TABLE} ORDER BY model_version, recommendation_id"
    ).to_pylist()
    expected = _rows(3, "v1").to_pylist() + _rows(1, "v2").to_pylist()
    assert stored == expected


class EmulatedWarehouseBackends(ClientBackends):
    """The local backends (source secrets, dlt's state folder, run ledger) with the client's warehouse
    in BigQuery: the ETL's destination is then dlt's bigquery destination built by the backend."""

    @cached_property
    def warehouse(self) -> Warehouse:
        return warehouse_with_datasets(self.spec.project_id)


def _transactions(warehouse: Warehouse) -> dict[str, float]:
    rows = warehouse.query("SELECT transaction_id, revenue FROM raw_data.transactions").to_pylist()
    ids = [r["transaction_id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate transaction ids in raw_data.transactions"
    return {r["transaction_id"]: round(r["revenue"], 2) for r in rows}


def test_etl_loads_postgresql_into_bigquery_and_merges_the_next_run(
    emulated: str, settings: Settings, postgres_url: str
) -> None:
    source_url = postgres_url
    client = make_client(settings, source_url, "bqemu-etl", sales=200)
    backends = EmulatedWarehouseBackends(client.spec, client.settings)
    ctx = ClientContext(name=client.spec.project_id, spec=client.spec, settings=client.settings, backends=backends)

    full = run_etl(ctx)
    assert {t.table: (t.mode, t.rows_written) for t in full.tables} == {
        "customers": ("merge", 50),
        "products": ("merge", 40),
        "transactions": ("merge", 200),
    }
    warehouse = backends.warehouse
    assert _transactions(warehouse) == {k: v[0] for k, v in source_sales(source_url).items()}

    later = BASE_TIME + timedelta(days=30)
    insert_sales(source_url, 201, 10, updated_at=later)
    update_sales(source_url, [1, 2, 3], updated_at=later + timedelta(hours=1))
    incremental = run_etl(ctx)
    assert incremental.table("transactions").rows_written == 13  # 10 new + 3 updated, merged on the key
    loaded = _transactions(warehouse)
    assert len(loaded) == 210 and loaded["2"] == 1.23
    assert loaded == {k: v[0] for k, v in source_sales(source_url).items()}
    engine = sa.create_engine(source_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SALES)).scalar_one() == 210
    engine.dispose()

    runs = list_runs(warehouse)  # the run history, recorded in BigQuery by the backend
    assert [(r["status"], r["rows_written"]) for r in runs] == [("success", 13), ("success", 290)]
