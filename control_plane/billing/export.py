"""The billing export table: Google's *standard usage cost* schema for the BigQuery billing
export (``gcp_billing_export_v1_*``), kept locally in DuckDB and fed by metering.

Only the columns the control plane reads or writes are kept, with their exact names and
nesting, so the same BigQuery-dialect SQL runs on the real export on GCP."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

TABLE = "billing_export"

_KV = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
SCHEMA = pa.schema(
    [
        ("billing_account_id", pa.string()),
        ("service", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("sku", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("usage_start_time", pa.timestamp("us", tz="UTC")),
        ("usage_end_time", pa.timestamp("us", tz="UTC")),
        ("project", pa.struct([("id", pa.string()), ("number", pa.string()), ("name", pa.string()), ("labels", _KV)])),
        ("labels", _KV),
        ("system_labels", _KV),
        ("location", pa.struct([("location", pa.string()), ("country", pa.string()), ("region", pa.string())])),
        ("export_time", pa.timestamp("us", tz="UTC")),
        ("cost", pa.float64()),
        ("currency", pa.string()),
        ("currency_conversion_rate", pa.float64()),
        (
            "usage",
            pa.struct(
                [
                    ("amount", pa.float64()),
                    ("unit", pa.string()),
                    ("amount_in_pricing_units", pa.float64()),
                    ("pricing_unit", pa.string()),
                ]
            ),
        ),
        (
            "credits",
            pa.list_(
                pa.struct(
                    [
                        ("name", pa.string()),
                        ("amount", pa.float64()),
                        ("full_name", pa.string()),
                        ("id", pa.string()),
                        ("type", pa.string()),
                    ]
                )
            ),
        ),
        ("invoice", pa.struct([("month", pa.string())])),
        ("cost_type", pa.string()),
    ]
)

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
  billing_account_id VARCHAR,
  service STRUCT(id VARCHAR, description VARCHAR),
  sku STRUCT(id VARCHAR, description VARCHAR),
  usage_start_time TIMESTAMPTZ,
  usage_end_time TIMESTAMPTZ,
  project STRUCT(id VARCHAR, number VARCHAR, name VARCHAR, labels STRUCT(key VARCHAR, value VARCHAR)[]),
  labels STRUCT(key VARCHAR, value VARCHAR)[],
  system_labels STRUCT(key VARCHAR, value VARCHAR)[],
  location STRUCT(location VARCHAR, country VARCHAR, region VARCHAR),
  export_time TIMESTAMPTZ,
  cost DOUBLE,
  currency VARCHAR,
  currency_conversion_rate DOUBLE,
  usage STRUCT(amount DOUBLE, unit VARCHAR, amount_in_pricing_units DOUBLE, pricing_unit VARCHAR),
  credits STRUCT(name VARCHAR, amount DOUBLE, full_name VARCHAR, id VARCHAR, type VARCHAR)[],
  invoice STRUCT(month VARCHAR),
  cost_type VARCHAR
)
"""


@dataclass(frozen=True, kw_only=True)
class UsageRow:
    """One line of the export: a priced usage of one SKU in one project over one interval."""

    billing_account_id: str
    service: str
    sku: str
    start: datetime
    end: datetime
    project_id: str
    labels: dict[str, str]
    cost: float
    currency: str
    usage_amount: float
    usage_unit: str
    region: str = "europe-west1"
    credits: tuple[tuple[str, float], ...] = ()
    cost_type: str = "regular"
    project_labels: dict[str, str] = field(default_factory=dict)

    def as_record(self, exported: datetime) -> dict[str, Any]:
        kv = [{"key": k, "value": v} for k, v in sorted(self.labels.items())]
        return {
            "billing_account_id": self.billing_account_id,
            "service": {"id": _sku_id(self.service), "description": self.service},
            "sku": {"id": _sku_id(self.sku), "description": self.sku},
            "usage_start_time": self.start,
            "usage_end_time": self.end,
            "project": {
                "id": self.project_id,
                "number": str(abs(hash(self.project_id)) % 10**12),
                "name": self.project_id,
                "labels": [{"key": k, "value": v} for k, v in sorted(self.project_labels.items())],
            },
            "labels": kv,
            "system_labels": [],
            "location": {"location": self.region, "country": self.region[:2].upper(), "region": self.region},
            "export_time": exported,
            "cost": round(self.cost, 6),
            "currency": self.currency,
            "currency_conversion_rate": 1.0,
            "usage": {
                "amount": self.usage_amount,
                "unit": self.usage_unit,
                "amount_in_pricing_units": self.usage_amount,
                "pricing_unit": self.usage_unit,
            },
            "credits": [
                {"name": name, "amount": amount, "full_name": name, "id": _sku_id(name), "type": "PROMOTION"}
                for name, amount in self.credits
            ],
            "invoice": {"month": self.start.strftime("%Y%m")},
            "cost_type": self.cost_type,
        }


def _sku_id(text: str) -> str:
    import hashlib

    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}-{digest[8:12]}"


class BillingExport:
    """The DuckDB file holding the export table (one writer at a time, readers in between)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if read_only and not self.path.exists():
            read_only = False
        conn = duckdb.connect(str(self.path), read_only=read_only)
        try:
            if not read_only:
                conn.execute(DDL)
            conn.execute("SET TimeZone = 'UTC'")
            yield conn
        finally:
            conn.close()

    def insert(self, rows: Iterable[UsageRow], *, exported: datetime) -> int:
        table = pa.Table.from_pylist([row.as_record(exported) for row in rows], schema=SCHEMA)
        if table.num_rows == 0:
            return 0
        with self.connect() as conn:
            return insert_table(conn, table)


def insert_table(conn: duckdb.DuckDBPyConnection, table: pa.Table) -> int:
    """Append an Arrow table of export records (schema :data:`SCHEMA`)."""
    conn.register("_incoming", table)
    try:
        conn.execute(f"INSERT INTO {TABLE} SELECT * FROM _incoming")
    finally:
        conn.unregister("_incoming")
    return table.num_rows
