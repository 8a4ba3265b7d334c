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

from b2brec.spec import PipelineDefaults
from trainer.lines import Lines, as_lines

DAY = 86400.0
DEFAULTS = PipelineDefaults()


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
    frame: pd.DataFrame | Lines,
    product_ids: list[str],
    moment: float,
    *,
    half_life_days: float = DEFAULTS.half_life_days,
) -> Interactions:
    """Interactions of the rows (a frame or ``Lines``) before ``moment`` over the catalog ``product_ids``,
    from per-pair aggregates (DuckDB): memory grows with pairs, not lines."""
    pairs = as_lines(frame).before(moment).pairs(moment, half_life_days)
    return interactions_from_pairs(pairs, product_ids, moment, half_life_days=half_life_days)


def interactions_from_pairs(
    pairs: pd.DataFrame, product_ids: list[str], moment: float, *, half_life_days: float = DEFAULTS.half_life_days
) -> Interactions:
    """``pairs``: ``customer_id, product_id, n, last_ts, decayed`` (``Lines.pairs``)."""
    customers = sorted(set(pairs["customer_id"].tolist()))
    customer_pos = {c: i for i, c in enumerate(customers)}
    product_pos = {p: i for i, p in enumerate(product_ids)}
    cols = pairs["product_id"].map(product_pos)
    known = cols.notna().to_numpy()
    rows = pairs["customer_id"].map(customer_pos).to_numpy()[known].astype(np.int64)
    cols = cols.to_numpy()[known].astype(np.int64)
    shape = (len(customers), len(product_ids))

    def matrix(column: str) -> sp.csr_matrix:
        values = pairs[column].to_numpy()[known].astype(np.float64)
        out = sp.csr_matrix((values, (rows, cols)), shape=shape)
        out.sum_duplicates()
        out.sort_indices()
        return out

    counts, decayed, last_ts = matrix("n"), matrix("decayed"), matrix("last_ts")
    popularity = np.bincount(cols, weights=pairs["decayed"].to_numpy()[known].astype(np.float64), minlength=shape[1])
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
