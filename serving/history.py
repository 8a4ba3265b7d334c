"""What serving knows about each customer: their whole purchase history in the client's warehouse.

A model bundle knows every customer who bought before its cutoff (the trainer adds the purchases
from before the extracted window), but not what happened since. Serving loads every customer's purchases
(row rules applied: no cancellations, returns netted, no postage or fees) and city from
``raw_data`` at start and refreshes them in the background, so that

- "exclude purchased" means everything the customer ever bought, including since the cutoff;
- the ranker's history features are as of the request, not the cutoff;
- a customer new since the cutoff is answered from their history (model embeddings of what
  they bought), not with the anonymous fallback;
- the fallback uses the city the warehouse holds when the request gives none;
- an id mangled by a spreadsheet or pandas (``12347.0`` for ``12347``) is recognised.

A model trained with an explicit ``--cutoff`` (a backtest: ``b2brec pipeline run --cutoff D`` on a
warehouse that also holds the sales after ``D``) is served as of its cutoff: its manifest's
``history_until`` bounds the history too, so nothing after the cutoff reaches an answer (neither
"exclude purchased" nor the recency of a purchase). A model with the default cutoff (the day after
the latest sale) reads the history up to now: purchases loaded after training count at once.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from b2brec.backends.warehouse import Warehouse
from b2brec.features import RAW_DATASET
from b2brec.rowrules import cleaned_sql, excluded_products_sql
from b2brec.spec.clientspec import PipelineDefaults, RowRules

log = logging.getLogger(__name__)

_FLOAT_ID = re.compile(r"^([+-]?\d+)\.0+$")
DAY = 86_400.0


@dataclass(frozen=True)
class HistoryItem:
    product_id: str
    count: int  # purchase lines
    last_ts: float  # epoch seconds of the latest purchase
    revenue: float


@dataclass(frozen=True)
class CustomerHistory:
    """Purchases per customer (newest first), cities, and the products the client excludes."""

    purchases: Mapping[str, list[HistoryItem]] = field(default_factory=dict)
    cities: Mapping[str, str] = field(default_factory=dict)
    excluded_products: frozenset[str] = frozenset()
    loaded_at: float = 0.0
    until: float | None = None  # purchases before this moment only (None: up to now)

    def items(self, customer_id: str) -> list[HistoryItem]:
        return self.purchases.get(customer_id, [])

    def city(self, customer_id: str) -> str | None:
        return self.cities.get(customer_id)

    def knows(self, customer_id: str) -> bool:
        return customer_id in self.purchases or customer_id in self.cities

    def normalize_id(self, raw: str, known: Callable[[str], bool] | None = None) -> str:
        """The id this customer is known by: ``raw`` itself when known, else ``raw`` without
        surrounding spaces or a float's ``.0`` tail when *that* is known (``known`` adds the
        model's own customers to this history's). Unknown either way: ``raw`` unchanged."""
        is_known = (lambda c: self.knows(c) or known(c)) if known is not None else self.knows
        if is_known(raw):
            return raw
        for candidate in candidate_ids(raw):
            if is_known(candidate):
                return candidate
        return raw


def candidate_ids(raw: str) -> list[str]:
    """Spellings a mangled id may stand for: trimmed, and without a float's ``.0``."""
    out = []
    trimmed = raw.strip()
    if trimmed != raw:
        out.append(trimmed)
    match = _FLOAT_ID.match(trimmed)
    if match:
        out.append(match.group(1))
    return out


def stored_spellings(raw: str) -> list[str]:
    """How a clean numeric id may have been *stored* by a sloppy import: ``12347`` as ``12347.0``
    (a customer number column that went through a float or a NUMERIC with a scale)."""
    trimmed = raw.strip()
    return [f"{trimmed}.0"] if trimmed.isdigit() else []


def looks_mangled(raw: str) -> bool:
    return bool(candidate_ids(raw))


def history_weights(
    items: list[HistoryItem], now: float, half_life_days: float = PipelineDefaults().half_life_days
) -> np.ndarray:
    """How much each purchased product says about the customer now: frequency (log) and recency
    (halving every ``half_life_days``)."""
    counts = np.array([i.count for i in items], dtype=np.float64)
    age_days = np.maximum(now - np.array([i.last_ts for i in items], dtype=np.float64), 0.0) / DAY
    return (1.0 + np.log(counts)) * 0.5 ** (age_days / half_life_days)


def load_history(warehouse: Warehouse, rules: RowRules | None, until: float | None = None) -> CustomerHistory:
    """Every customer's purchases (row rules applied) and city from ``raw_data``; with ``until``
    (epoch seconds), only the purchases before it."""
    if not warehouse.table_exists(RAW_DATASET, "transactions"):
        return CustomerHistory(loaded_at=time.time())
    columns = warehouse.query(f"SELECT * FROM {RAW_DATASET}.transactions LIMIT 0").schema.names
    revenue = "SUM(revenue)" if "revenue" in columns else "0.0"
    table = warehouse.query(
        "SELECT CAST(customer_id AS STRING) AS customer_id, CAST(product_id AS STRING) AS product_id, "
        f"COUNT(*) AS n, UNIX_SECONDS(MAX(`timestamp`)) AS last_ts, {revenue} AS revenue "
        f"FROM ({cleaned_sql(rules, columns)}) AS t WHERE customer_id IS NOT NULL{_before(until)} "
        "GROUP BY 1, 2 ORDER BY customer_id, last_ts DESC, product_id"
    )
    purchases: dict[str, list[HistoryItem]] = {}
    for cid, pid, n, last, rev in zip(
        *(table.column(c).to_pylist() for c in ("customer_id", "product_id", "n", "last_ts", "revenue")), strict=True
    ):
        purchases.setdefault(cid, []).append(HistoryItem(pid, int(n), float(last or 0), float(rev or 0.0)))
    cities: dict[str, str] = {}
    if warehouse.table_exists(RAW_DATASET, "customers"):
        customer_columns = warehouse.query(f"SELECT * FROM {RAW_DATASET}.customers LIMIT 0").schema.names
        if "city" in customer_columns:
            rows = warehouse.query(
                f"SELECT CAST(customer_id AS STRING) AS customer_id, CAST(city AS STRING) AS city "
                f"FROM {RAW_DATASET}.customers WHERE city IS NOT NULL"
            )
            cities = dict(zip(rows.column("customer_id").to_pylist(), rows.column("city").to_pylist(), strict=True))
    excluded: frozenset[str] = frozenset()
    sql = excluded_products_sql(rules)
    if sql is not None and (
        rules is None or not rules.exclude_categories or warehouse.table_exists(RAW_DATASET, "products")
    ):
        excluded = frozenset(warehouse.query(sql).column("product_id").to_pylist())
    return CustomerHistory(purchases, cities, excluded, time.time(), until)


def _before(until: float | None) -> str:
    return "" if until is None else f" AND `timestamp` < TIMESTAMP_SECONDS({int(until)})"


class HistoryCache:
    """The :class:`CustomerHistory` of the live model, reloaded every ``refresh_seconds`` in a
    daemon thread, and at once when a model with another history bound goes live.

    A failed reload keeps the previous history (logged); serving never blocks on the warehouse.
    While the history for a new bound loads, requests get an empty one (the model's own window),
    never one that reaches past the live model's cutoff.
    """

    def __init__(self, loader: Callable[[float | None], CustomerHistory], refresh_seconds: float = 300.0) -> None:
        self.loader = loader
        self.refresh_seconds = refresh_seconds
        self.until: float | None = None
        self._loaded = CustomerHistory()
        self.error: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.refreshed = threading.Event()  # set after every load attempt (tests and readiness wait on it)
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> CustomerHistory:
        loaded = self._loaded
        return loaded if loaded.until == self.until else CustomerHistory(until=self.until)

    def model_changed(self, state: object) -> None:
        """Registry listener: follow the history bound of the model that went live."""
        until = getattr(state, "history_until", None)
        if until != self.until:
            self.until = until
            self._wake.set()

    def refresh(self) -> CustomerHistory:
        until = self.until
        try:
            self._loaded = self.loader(until)
            self.error = None
        except Exception as exc:  # the warehouse may be busy or briefly gone; keep serving what we have
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("customer history not refreshed: %s", self.error)
        self.refreshed.set()
        return self.current

    def start(self) -> None:
        """Load now in a daemon thread (start-up never waits on the warehouse), then every
        ``refresh_seconds`` (0: only when the live model's history bound changes)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="history-refresh", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        self.refresh()
        while not self._stop.is_set():
            self._wake.wait(self.refresh_seconds if self.refresh_seconds > 0 else None)
            if self._stop.is_set():
                break
            self._wake.clear()
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
