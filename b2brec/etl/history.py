"""Run history: one row per ETL run in ``raw_data._etl_runs`` of the client's warehouse.

It lives next to the data it describes (DuckDB locally, BigQuery on GCP), written through
the warehouse backend in BigQuery SQL, so the client app reads it the same way everywhere.
Per-table figures are a JSON string (``tables``) to keep the table shape stable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from b2brec.backends.warehouse import Warehouse
from b2brec.features import RAW_DATASET
from b2brec.rowrules import RuleCounts

RUNS_TABLE = "_etl_runs"

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {RAW_DATASET}.{RUNS_TABLE} (
  run_id STRING, started_at TIMESTAMP, finished_at TIMESTAMP, status STRING, full_refresh BOOL,
  rows_read INT64, rows_written INT64, tables STRING, error_code STRING, error_message STRING
)
"""
# added later: a history table created before gains them on the next run
_ADD_COLUMNS = tuple(
    f"ALTER TABLE {RAW_DATASET}.{RUNS_TABLE} ADD COLUMN IF NOT EXISTS {name} {kind}"
    for name, kind in (("rows_rejected", "INT64"), ("rows_excluded", "INT64"), ("rules", "STRING"))
)
_INSERT = f"""
INSERT INTO {RAW_DATASET}.{RUNS_TABLE}
  (run_id, started_at, finished_at, status, full_refresh, rows_read, rows_written, tables, error_code, error_message,
   rows_rejected, rows_excluded, rules)
VALUES (@run_id, @started_at, @finished_at, @status, @full_refresh, @rows_read, @rows_written, @tables,
  @error_code, @error_message, @rows_rejected, @rows_excluded, @rules)
"""


@dataclass(frozen=True)
class TableLoad:
    """What one run did to one platform table."""

    table: str
    source_table: str
    mode: str  # "merge" (incremental on cursor), "replace" (no cursor), or "full-refresh"
    rows_read: int
    rows_written: int
    watermark: str | None  # the cursor's new high-water mark, ISO format


@dataclass(frozen=True)
class LoadSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime
    full_refresh: bool
    tables: tuple[TableLoad, ...] = field(default_factory=tuple)
    status: str = "success"
    error_code: str | None = None
    error_message: str | None = None
    rules: RuleCounts | None = None
    """What the row rules make of ``raw_data.transactions`` after this load (None: not loaded)."""

    @property
    def rows_rejected(self) -> int | None:
        """Transactions that are not sales under the client's rules (cancellations, returns)."""
        return None if self.rules is None else self.rules.rejected

    @property
    def rows_excluded(self) -> int | None:
        """Transactions of excluded products (postage, fees...)."""
        return None if self.rules is None else self.rules.excluded

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def rows_read(self) -> int:
        return sum(t.rows_read for t in self.tables)

    @property
    def rows_written(self) -> int:
        return sum(t.rows_written for t in self.tables)

    def table(self, name: str) -> TableLoad:
        for item in self.tables:
            if item.table == name:
                return item
        raise KeyError(name)


def record_run(warehouse: Warehouse, summary: LoadSummary) -> None:
    warehouse.execute(_CREATE)
    for statement in _ADD_COLUMNS:
        warehouse.execute(statement)
    warehouse.execute(
        _INSERT,
        {
            "run_id": summary.run_id,
            "started_at": summary.started_at,
            "finished_at": summary.finished_at,
            "status": summary.status,
            "full_refresh": summary.full_refresh,
            "rows_read": summary.rows_read,
            "rows_written": summary.rows_written,
            "tables": json.dumps([asdict(t) for t in summary.tables]),
            "error_code": summary.error_code,
            "error_message": summary.error_message,
            "rows_rejected": summary.rows_rejected,
            "rows_excluded": summary.rows_excluded,
            "rules": json.dumps(summary.rules.as_dict()) if summary.rules else None,
        },
    )


def list_runs(warehouse: Warehouse, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first, ``tables`` decoded."""
    if not warehouse.table_exists(RAW_DATASET, RUNS_TABLE):
        return []
    rows = warehouse.query(
        f"SELECT * FROM {RAW_DATASET}.{RUNS_TABLE} ORDER BY started_at DESC LIMIT @limit", {"limit": limit}
    ).to_pylist()
    for row in rows:
        row["tables"] = json.loads(row["tables"] or "[]")
        row["rules"] = json.loads(row["rules"]) if row.get("rules") else None
    return rows
