"""Reads from the client's warehouse for pages, in BigQuery SQL through the warehouse backend.

Locally the warehouse is one DuckDB file; while an ETL run writes to it another process cannot open
it for a moment, so a read retries briefly and then says the warehouse is busy (instead of failing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb

from client_app.client import current_client
from client_app.errors import AppError

RETRY_FOR_S = 4.0
T = TypeVar("T")


def _retry(read: Callable[[], T]) -> T:
    deadline = time.monotonic() + RETRY_FOR_S
    while True:
        try:
            return read()
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise AppError(
                    "the warehouse is busy (a load is writing to it)",
                    code="warehouse_busy",
                    fix="wait a few seconds and reload",
                ) from None
            time.sleep(0.2)


def query(sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return _retry(lambda: current_client().warehouse.query(sql, params).to_pylist())


_EXISTING: set[tuple[str, str, str]] = set()
"""Tables seen to exist, per client (tables are created once and never dropped, so a yes is kept:
each warehouse call opens the file, and pages should not pay for the same question twice)."""


def table_exists(dataset: str, table: str) -> bool:
    key = (current_client().name, dataset, table)
    if key in _EXISTING:
        return True
    exists = _retry(lambda: current_client().warehouse.table_exists(dataset, table))
    if exists:
        _EXISTING.add(key)
    return exists
