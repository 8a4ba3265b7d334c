"""Prediction logging to ``predictions.recommendation_history``, off the request path.

Requests put one small entry on a queue (no I/O, no formatting); a background thread turns
entries into rows and writes them in batches every ``flush_interval_s`` or ``flush_rows``,
and once more on shutdown. Locally the sink opens the DuckDB file only while it writes, so
other processes (the client app, ETL) can use the warehouse between flushes. If a write fails
the rows are kept and retried, up to ``max_pending_rows``; beyond that they are dropped and
counted in ``/metrics`` — the API never slows down or fails because of its log.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from b2brec.prediction_log import SCHEMA, PredictionSink
from serving.model.state import ModelState
from serving.recommend import Recommendation

log = logging.getLogger("serving.predictions")


LOGGED_VALUES = 5
"""Filter values kept per list in the prediction log (the count is always kept)."""
LOGGED_VALUE_CHARS = 40


def filter_summary(filters: dict[str, Any]) -> str:
    """A bounded JSON summary of a request's filters for the prediction log: per list its length
    and its first few values (shortened); flags as they are. At most about 1 KB whatever the request
    held, because it is stored once per customer (a 1 MB body of filter strings used to cost 1.7 GB)."""
    summary: dict[str, Any] = {}
    for key, value in sorted(filters.items()):
        if isinstance(value, list | tuple):
            if value:
                shown = [str(v)[:LOGGED_VALUE_CHARS] for v in value[:LOGGED_VALUES]]
                summary[key] = {"n": len(value), "values": shown}
        elif isinstance(value, bool | int | float) or value is None:
            if value:
                summary[key] = value
        else:
            summary[key] = str(value)[:LOGGED_VALUE_CHARS]
    return json.dumps(summary, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class PredictionEntry:
    """What one request logs; expanded into one row per customer by the writer thread."""

    state: ModelState
    request_id: str
    recommendation_ids: list[str]
    endpoint: str
    k: int
    results: list[Recommendation]
    filters: dict[str, Any]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    latency_ms: float | None = None
    """Server time the answer took (the recommend call), the same for every row of the request."""

    def rows(self) -> list[dict[str, Any]]:
        filters = filter_summary(self.filters)
        ids = self.state.product_ids
        return [
            {
                "recommendation_id": rid,
                "request_id": self.request_id,
                "model_version": self.state.version,
                "endpoint": self.endpoint,
                "customer_id": rec.customer_id,
                "k": self.k,
                "product_ids": ids[rec.product_rows].tolist(),
                "scores": rec.scores,
                "fallback": rec.fallback,
                "fallback_reason": rec.fallback_reason,
                "filters": filters,
                "created_at": self.created_at,
                "latency_ms": self.latency_ms,
            }
            for rid, rec in zip(self.recommendation_ids, self.results, strict=True)
        ]


class PredictionLogger:
    def __init__(
        self,
        sink: PredictionSink,
        *,
        flush_interval_s: float = 2.0,
        flush_rows: int = 5000,
        max_pending_rows: int = 500_000,
        on_written: Callable[[int], None] = lambda n: None,
        on_dropped: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.sink = sink
        self.flush_interval_s = flush_interval_s
        self.flush_rows = flush_rows
        self.max_pending_rows = max_pending_rows
        self.on_written, self.on_dropped = on_written, on_dropped
        self._queue: queue.SimpleQueue[PredictionEntry] = queue.SimpleQueue()
        self._queued_rows = 0
        self._pending: list[dict[str, Any]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="b2brec-prediction-log", daemon=True)
        self._thread.start()

    def log(self, entry: PredictionEntry) -> None:
        """Called on the request path: a queue put and a counter."""
        self._queue.put(entry)
        self._queued_rows += len(entry.results)
        if self._queued_rows >= self.flush_rows:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write everything queued so far; returns the rows written (0 on failure)."""
        with self._write_lock:
            while True:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                self._queued_rows -= len(entry.results)
                self._pending.extend(entry.rows())
            if not self._pending:
                return 0
            try:
                self.sink.write(pa.Table.from_pylist(self._pending, schema=SCHEMA))
            except Exception as exc:  # warehouse busy or down: keep the rows, retry next time
                overflow = len(self._pending) - self.max_pending_rows
                if overflow > 0:
                    del self._pending[:overflow]
                    self.on_dropped(overflow)
                log.warning("prediction log write failed; will retry", extra={"error": str(exc)[:300]})
                return 0
            written = len(self._pending)
            self._pending = []
            self.on_written(written)
            return written

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
