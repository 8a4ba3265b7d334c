"""Model inputs from transaction frames: each training row becomes (query features, candidate features).

The query side sees the customer's own purchase history *before* the row's time (most recent distinct
products, weighted by how often they were bought), plus recency and frequency: on wholesale data most
of the next basket is repeat purchases, and a query tower blind to history loses to ALS.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trainer.lines import Lines, as_lines

DAY = 86400.0


@dataclass(frozen=True, kw_only=True)
class History:
    """Query features for a batch of (customer, moment) pairs."""

    customer_id: np.ndarray
    city: np.ndarray
    timestamp: np.ndarray
    history: np.ndarray  # [n, H] product ids, "" = padding
    history_weight: np.ndarray  # [n, H] float32
    recency: np.ndarray  # log1p(days since last purchase); 0 when none
    frequency: np.ndarray  # log1p(purchases so far)
    avg_revenue: np.ndarray  # log1p(mean line revenue so far); 0 when none

    def as_inputs(self) -> dict[str, np.ndarray]:
        return {
            "customer_id": self.customer_id,
            "city": self.city,
            "timestamp": self.timestamp.astype(np.float32),
            "history": self.history,
            "history_weight": self.history_weight,
            "recency": self.recency,
            "frequency": self.frequency,
            "avg_revenue": self.avg_revenue,
        }


class _State:
    __slots__ = ("counts", "last", "n", "revenue")

    def __init__(self) -> None:
        self.counts: OrderedDict[str, int] = OrderedDict()
        self.last = 0.0
        self.n = 0
        self.revenue = 0.0

    def add(self, product: str, ts: float, revenue: float) -> None:
        self.counts[product] = self.counts.get(product, 0) + 1
        self.counts.move_to_end(product)
        self.last = max(self.last, ts)
        self.n += 1
        self.revenue += revenue


def _row(state: _State | None, now: float, length: int) -> tuple[list[str], list[float], float, float, float]:
    if state is None or state.n == 0:
        return [""] * length, [0.0] * length, 0.0, 0.0, 0.0
    recent = list(reversed(state.counts))[:length]
    weights = [1.0 + math.log(state.counts[p]) for p in recent]
    pad = length - len(recent)
    recency = math.log1p(max(now - state.last, 0.0) / DAY)
    return (
        recent + [""] * pad,
        weights + [0.0] * pad,
        recency,
        math.log1p(state.n),
        math.log1p(state.revenue / state.n),
    )


def _city_of(frame: pd.DataFrame) -> dict[str, str]:
    if "city" not in frame:
        return {}
    return dict(zip(frame["customer_id"], frame["city"], strict=True))


def training_queries(train: pd.DataFrame, length: int) -> History:
    """Query features of every training row, using only purchases strictly earlier than the row."""
    states: dict[str, _State] = {}
    rows: list[tuple[list[str], list[float], float, float, float]] = []
    pending: list[tuple[str, str, float, float]] = []  # rows of the current timestamp, added after it
    current = None
    for customer, product, ts, revenue in zip(
        train["customer_id"], train["product_id"], train["timestamp"], train["revenue"], strict=True
    ):
        if ts != current:
            for c, p, t, r in pending:
                states.setdefault(c, _State()).add(p, t, r)
            pending, current = [], ts
        rows.append(_row(states.get(customer), float(ts), length))
        pending.append((customer, product, float(ts), float(revenue)))
    return _pack(train["customer_id"].to_numpy(), _city_of(train), train["timestamp"].to_numpy(), rows)


def queries_at(
    frame: pd.DataFrame | Lines,
    customers: list[str],
    moment: float,
    length: int,
    cities: dict[str, str] | None = None,
) -> History:
    """Query features of ``customers`` at ``moment`` from all of their purchases in ``frame`` (rows or
    ``Lines``), from per-customer aggregates: memory grows with customers x ``length``, not lines."""
    lines = as_lines(frame)
    recent = lines.recent_products(length)
    totals = lines.customer_totals()
    listed: dict[str, tuple[list[str], list[float]]] = {}
    for customer, product, n in zip(
        recent["customer_id"].tolist(), recent["product_id"].tolist(), recent["n"].tolist(), strict=True
    ):
        products, weights = listed.setdefault(customer, ([], []))
        products.append(product)
        weights.append(1.0 + math.log(n))
    n_lines = totals["n"].to_dict()
    revenue = totals["revenue"].to_dict()
    last = totals["last_ts"].to_dict()
    rows = []
    for customer in customers:
        products, weights = listed.get(customer, ([], []))
        count = int(n_lines.get(customer, 0))
        if not count:
            rows.append(([""] * length, [0.0] * length, 0.0, 0.0, 0.0))
            continue
        pad = length - len(products)
        rows.append(
            (
                products + [""] * pad,
                weights + [0.0] * pad,
                math.log1p(max(moment - float(last[customer]), 0.0) / DAY),
                math.log1p(count),
                math.log1p(float(revenue[customer]) / count),
            )
        )
    city = {**lines.cities(), **(cities or {})}
    return _pack(np.asarray(customers, dtype=object), city, np.full(len(customers), moment), rows)


def _pack(customers: np.ndarray, city: dict[str, str], timestamps: np.ndarray, rows: list) -> History:
    hist, weights, recency, frequency, revenue = zip(*rows, strict=True) if rows else ([], [], [], [], [])
    return History(
        customer_id=np.asarray(customers, dtype=object),
        city=np.asarray([city.get(c, "") for c in customers], dtype=object),
        timestamp=np.asarray(timestamps, dtype=np.float64),
        history=np.asarray(hist, dtype=object).reshape(len(rows), -1),
        history_weight=np.asarray(weights, dtype=np.float32).reshape(len(rows), -1),
        recency=np.asarray(recency, dtype=np.float32),
        frequency=np.asarray(frequency, dtype=np.float32),
        avg_revenue=np.asarray(revenue, dtype=np.float32),
    )


def product_table(frame: pd.DataFrame | Lines, product_ids: list[str]) -> dict[str, np.ndarray]:
    """Candidate features of ``product_ids`` (name, category, subcategory, log popularity)."""
    attributes = as_lines(frame).product_attributes()
    table: dict[str, np.ndarray] = {"product_id": np.asarray(product_ids, dtype=object)}
    for column in ("art_name", "category", "subcategory"):
        if column in attributes:
            values = attributes[column].reindex(product_ids)
            table[column] = np.asarray([v if isinstance(v, str) else "" for v in values], dtype=object)
    counts = attributes["n"].reindex(product_ids).fillna(0).to_numpy(dtype=np.float32)
    table["popularity"] = np.log1p(counts)
    return table
