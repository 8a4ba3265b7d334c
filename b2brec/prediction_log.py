"""The prediction log table ``predictions.recommendation_history``: one contract for the serving
API that writes it (DuckDB locally, BigQuery streaming on GCP) and the Terraform that creates it.

Each row is one recommendation (one customer of one request), so later purchases can be
attributed to the ``recommendation_id`` and ``model_version`` a client received.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from b2brec.backends.warehouse import BigQueryWarehouse, DuckDBWarehouse

DATASET, TABLE = "predictions", "recommendation_history"


@dataclass(frozen=True)
class LogColumn:
    name: str
    bq_type: str
    """BigQuery type of the value (of each element when ``repeated``)."""
    description: str
    repeated: bool = False


COLUMNS: tuple[LogColumn, ...] = (
    LogColumn("recommendation_id", "STRING", "Id returned to the caller with this recommendation."),
    LogColumn("request_id", "STRING", "Request that produced it (a batch shares one)."),
    LogColumn("model_version", "STRING", "Model version that produced it."),
    LogColumn("endpoint", "STRING", "recommend or recommend-batch."),
    LogColumn("customer_id", "STRING", "Customer the products were recommended to."),
    LogColumn("k", "INT64", "Number of products asked for."),
    LogColumn("product_ids", "STRING", "Recommended products, best first.", repeated=True),
    LogColumn("scores", "FLOAT64", "Their scores, in the same order.", repeated=True),
    LogColumn("fallback", "BOOL", "True when the customer was unknown and popular products were served."),
    LogColumn("fallback_reason", "STRING", "Why the fallback was used."),
    LogColumn("filters", "STRING", "The request's filters as JSON."),
    LogColumn("created_at", "TIMESTAMP", "When the recommendation was served (UTC)."),
    LogColumn("latency_ms", "FLOAT64", "Server time to compute the request's answer, in milliseconds."),
)
PARTITION_FIELD = "created_at"
CLUSTERING = ("customer_id", "model_version")

_ARROW = {
    "STRING": pa.string(),
    "INT64": pa.int64(),
    "FLOAT64": pa.float64(),
    "BOOL": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
}

SCHEMA = pa.schema([(c.name, pa.list_(_ARROW[c.bq_type]) if c.repeated else _ARROW[c.bq_type]) for c in COLUMNS])
"""Arrow schema of a batch of rows, in column order."""

CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {DATASET}.{TABLE} (\n"
    + ",\n".join(f"  {c.name} {f'ARRAY<{c.bq_type}>' if c.repeated else c.bq_type}" for c in COLUMNS)
    + "\n)"
)
"""The table's DDL in BigQuery SQL (transpiled for DuckDB on the local default)."""

ADDED_COLUMNS: tuple[str, ...] = ("latency_ms",)
"""Columns added after the table was first defined: a local table made before gets them on the
next write (``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``); BigQuery adds them in place on apply."""


class PredictionSink(Protocol):
    """Appends batches of rows (``SCHEMA``) to the table; ``Warehouse.prediction_sink()`` gives the
    warehouse's own (DuckDB: one short connection per write; BigQuery: the streaming insert API)."""

    def write(self, table: pa.Table) -> None: ...


class DuckDBSink:
    """Appends to the local warehouse; the connection lives only for one write."""

    def __init__(self, warehouse: DuckDBWarehouse) -> None:
        self.warehouse = warehouse

    def write(self, table: pa.Table) -> None:
        from b2brec.backends.warehouse import to_duckdb_sql

        with self.warehouse.connect() as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {DATASET}")
            conn.execute(to_duckdb_sql(CREATE_TABLE))
            for column in (c for c in COLUMNS if c.name in ADDED_COLUMNS):  # a table made before they existed
                sql_type = to_duckdb_sql(f"CAST(NULL AS {column.bq_type})").split(" AS ", 1)[1].rstrip(")")
                conn.execute(f"ALTER TABLE {DATASET}.{TABLE} ADD COLUMN IF NOT EXISTS {column.name} {sql_type}")
            conn.register("prediction_batch", table)
            conn.execute(f"INSERT INTO {DATASET}.{TABLE} BY NAME SELECT * FROM prediction_batch")
            conn.unregister("prediction_batch")


def bigquery_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as the BigQuery streaming API takes them (timestamps as ISO strings)."""
    rows = table.to_pylist()
    for row in rows:
        row["created_at"] = row["created_at"].isoformat()
    return rows


class BigQuerySink:
    """Streams rows into BigQuery with ``insert_rows_json``. The table comes from Terraform
    (``predictions`` dataset); if it is missing it is created through the tables API (same
    schema, partitioning), which needs no query-job permission."""

    def __init__(self, warehouse: BigQueryWarehouse) -> None:
        self.warehouse = warehouse
        self._table_ready = False

    @property
    def table_id(self) -> str:
        return f"{self.warehouse.project}.{DATASET}.{TABLE}"

    def _ensure_table(self) -> None:
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        client = self.warehouse.client
        try:
            client.get_table(self.table_id)
        except NotFound:
            schema = [
                bigquery.SchemaField(c.name, c.bq_type, mode="REPEATED" if c.repeated else "NULLABLE") for c in COLUMNS
            ]
            table = bigquery.Table(self.table_id, schema=schema)
            table.time_partitioning = bigquery.TimePartitioning(field=PARTITION_FIELD)
            client.create_table(table, exists_ok=True)
        self._table_ready = True

    def write(self, table: pa.Table) -> None:
        if not self._table_ready:
            self._ensure_table()
        errors = self.warehouse.client.insert_rows_json(self.table_id, bigquery_rows(table))
        if errors:
            raise RuntimeError(f"BigQuery rejected {len(errors)} prediction rows: {str(errors)[:300]}")
