"""The prediction log table ``predictions.recommendation_history``: one contract for the serving
API that writes it (DuckDB locally, BigQuery streaming on GCP) and the Terraform that creates it.

Each row is one recommendation (one customer of one request), so later purchases can be
attributed to the ``recommendation_id`` and ``model_version`` a client received.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

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
