"""Customer x product interaction matrices as of a moment, shared by the baselines and the ranker.

Built once from the training frame (every row strictly before the cutoff): purchase counts, the
last purchase time and a time-decayed count per (customer, product), and decayed product
popularity. Time decay (weight ``0.5 ** (age / half_life)``) replaces a hard training window: old
purchases fade instead of falling off a cliff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

DAY = 86400.0


def decay(age_seconds: np.ndarray, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age / half_life)``; ages below zero count as zero."""
    return np.exp2(-np.maximum(age_seconds, 0.0) / (half_life_days * DAY))


@dataclass(frozen=True)
class Interactions:
    customers: list[str]
    customer_pos: dict[str, int]
    product_ids: list[str]
    moment: float
    counts: sp.csr_matrix  # purchases (lines) per pair
    last_ts: sp.csr_matrix  # epoch seconds of the last purchase, same sparsity as counts
    decayed: sp.csr_matrix  # sum of decay(moment - t) over the pair's lines
    popularity: np.ndarray  # decayed line count per product
    half_life_days: float

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    def rows(self, customers: list[str]) -> np.ndarray:
        """Matrix rows of ``customers`` (-1 for a customer without history)."""
        return np.array([self.customer_pos.get(c, -1) for c in customers], dtype=np.int64)


def build_interactions(
    frame: pd.DataFrame, product_ids: list[str], moment: float, *, half_life_days: float = 90.0
) -> Interactions:
    """Interactions of ``frame`` rows before ``moment`` over the catalog ``product_ids``."""
    frame = frame[frame["timestamp"] < moment]
    customers = sorted(set(frame["customer_id"]))
    customer_pos = {c: i for i, c in enumerate(customers)}
    product_pos = {p: i for i, p in enumerate(product_ids)}
    cols = frame["product_id"].map(product_pos)
    known = cols.notna().to_numpy()
    rows = frame["customer_id"].map(customer_pos).to_numpy()[known].astype(np.int64)
    cols = cols.to_numpy()[known].astype(np.int64)
    ts = frame["timestamp"].to_numpy()[known].astype(np.float64)
    weight = decay(moment - ts, half_life_days)
    shape = (len(customers), len(product_ids))
    counts = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    decayed = sp.csr_matrix((weight, (rows, cols)), shape=shape)
    # last purchase per pair: sort by time, keep the last occurrence of each pair
    order = np.lexsort((ts, cols, rows))
    pair = rows[order] * len(product_ids) + cols[order]
    last = np.r_[pair[1:] != pair[:-1], True]
    last_ts = sp.csr_matrix((ts[order][last], (rows[order][last], cols[order][last])), shape=shape)
    for matrix in (counts, decayed, last_ts):
        matrix.sum_duplicates()
        matrix.sort_indices()
    popularity = np.bincount(cols, weights=weight, minlength=len(product_ids))
    return Interactions(
        customers=customers,
        customer_pos=customer_pos,
        product_ids=list(product_ids),
        moment=float(moment),
        counts=counts,
        last_ts=last_ts,
        decayed=decayed,
        popularity=popularity,
        half_life_days=half_life_days,
    )
