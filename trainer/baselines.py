"""Baselines on the same split as the model: most-popular and ALS (``implicit``, CPU)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from trainer.evaluation import EvalSplit, Scorer


@dataclass
class Fitted:
    name: str
    scorer: Scorer
    seconds: float
    examples: int
    params: dict[str, float | int | str]


def most_popular(train: pd.DataFrame, split: EvalSplit) -> Fitted:
    """Products ranked by their number of training purchases, the same list for everyone."""
    started = time.perf_counter()
    position = {p: i for i, p in enumerate(split.product_ids)}
    index = train["product_id"].map(position).dropna().astype(int).to_numpy()
    counts = np.bincount(index, minlength=split.n_products).astype(np.float64)
    seconds = time.perf_counter() - started
    return Fitted("most_popular", lambda rows: np.tile(counts, (len(rows), 1)), seconds, len(train), {})


def als(
    train: pd.DataFrame,
    split: EvalSplit,
    *,
    factors: int = 64,
    iterations: int = 20,
    regularization: float = 0.05,
    alpha: float = 2.0,
    seed: int = 42,
) -> Fitted:
    """Implicit ALS on log-scaled purchase counts: confidence ``alpha * log1p(count)`` where bought (preference
    1), weight 1 and preference 0 elsewhere (implicit's model), L2 ``regularization`` on both factor sets."""
    from implicit.cpu.als import AlternatingLeastSquares

    started = time.perf_counter()
    customers = sorted(set(train["customer_id"]))
    customer_pos = {c: i for i, c in enumerate(customers)}
    product_pos = {p: i for i, p in enumerate(split.product_ids)}
    known = train[train["product_id"].isin(product_pos)]
    rows = known["customer_id"].map(customer_pos).to_numpy()
    cols = known["product_id"].map(product_pos).to_numpy()
    counts = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(customers), split.n_products))
    counts.sum_duplicates()
    confidence = counts.copy()
    confidence.data = alpha * np.log1p(confidence.data)
    from threadpoolctl import threadpool_limits

    # implicit's own threads do the work; a BLAS pool would fight them (implicit checks, and warns, when the
    # model is built, so the limit must already hold then).
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            iterations=iterations,
            regularization=regularization,
            random_state=seed,
            num_threads=2,
            calculate_training_loss=False,
        )
        model.fit(confidence.tocsr().astype(np.float32), show_progress=False)
    user_factors = np.asarray(model.user_factors)
    item_factors = np.asarray(model.item_factors)
    eval_rows = np.array([customer_pos[c] for c in split.customers])
    seconds = time.perf_counter() - started
    params: dict[str, float | int | str] = {
        "factors": factors,
        "iterations": iterations,
        "regularization": regularization,
        "alpha": alpha,
    }
    return Fitted("als", lambda rows: user_factors[eval_rows[rows]] @ item_factors.T, seconds, len(known), params)
