"""Baselines on the same split as the model: most popular, own past purchases, EASE, ALS, and a
rank fusion of own past purchases with EASE (the strongest simple combination on wholesale data).

Each fitter takes the training frame (every row before the cutoff) and the shared ``EvalSplit``,
and returns a scorer over ``split.product_ids`` for ``split.customers``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from trainer.evaluation import EvalSplit, Scorer
from trainer.interactions import Interactions, build_interactions
from trainer.lines import Lines, as_lines

EASE_MAX_ITEMS = 6000
"""EASE inverts an items x items matrix: the most popular 6,000 products (~0.3 GB, ~20 s on 2 cores)."""


@dataclass
class Fitted:
    name: str
    scorer: Scorer
    seconds: float
    examples: int
    params: dict[str, float | int | str]


def _interactions(
    train: pd.DataFrame | Lines, split: EvalSplit, moment: float | None, half_life: float
) -> Interactions:
    lines = as_lines(train)
    at = (lines.max_timestamp() or 0.0) + 1 if moment is None else moment
    return build_interactions(lines, split.product_ids, at, half_life_days=half_life)


def _dense_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    out = np.zeros((len(rows), matrix.shape[1]))
    valid = rows >= 0
    if valid.any():
        out[valid] = matrix[rows[valid]].toarray()
    return out


def most_popular(train: pd.DataFrame | Lines, split: EvalSplit, *, moment: float | None = None) -> Fitted:
    """Products ranked by their number of training purchases, the same list for everyone."""
    started = time.perf_counter()
    lines = as_lines(train)
    counts = lines.product_counts().reindex(split.product_ids).fillna(0).to_numpy(dtype=np.float64)
    seconds = time.perf_counter() - started
    return Fitted("most_popular", lambda rows: np.tile(counts, (len(rows), 1)), seconds, lines.count(), {})


def own_history(
    train: pd.DataFrame | Lines, split: EvalSplit, *, moment: float | None = None, half_life_days: float = 60.0
) -> Fitted:
    """Each customer's own past purchases, recency-weighted (sum of ``0.5 ** (age / half_life)``
    over their lines), then the most popular products for the rest of the list."""
    started = time.perf_counter()
    inter = _interactions(train, split, moment, half_life_days)
    rows = inter.rows(split.customers)
    popular = inter.counts.sum(axis=0).A1
    tiebreak = popular / (popular.max() + 1.0)  # < 1: below any product the customer bought

    def scorer(batch: np.ndarray) -> np.ndarray:
        return _dense_rows(inter.decayed, rows[batch]) * 1e3 + tiebreak[None, :]

    params: dict[str, float | int | str] = {"half_life_days": half_life_days}
    return Fitted("own_history", scorer, time.perf_counter() - started, int(inter.counts.sum()), params)


def ease_weights(matrix: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE (Steck 2019): B = I - P / diag(P) with P = (XᵀX + λI)⁻¹, zero diagonal.

    The Gram matrix is symmetric positive definite, so P comes from its Cholesky factor (LAPACK
    potrf + potri, a third of a general inverse's work), in float32 in place."""
    from scipy.linalg import lapack

    gram = np.asarray((matrix.T @ matrix).toarray(), dtype=np.float32)
    gram[np.diag_indices_from(gram)] += lam
    factor, info = lapack.spotrf(gram, lower=True, overwrite_a=True)
    if info != 0:
        raise ValueError(f"EASE: the Gram matrix is not positive definite (potrf info {info}); raise lambda")
    inverse, info = lapack.spotri(factor, lower=True, overwrite_c=True)
    if info != 0:
        raise ValueError(f"EASE: inverting the Cholesky factor failed (potri info {info})")
    inverse = np.tril(inverse) + np.tril(inverse, -1).T  # potri fills the lower triangle only
    weights = -inverse / np.diag(inverse)[None, :]
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32, copy=False)


def ease_items(counts: sp.csr_matrix, max_items: int = EASE_MAX_ITEMS) -> np.ndarray:
    """Catalog positions EASE models: bought by at least two customers, the most popular first."""
    buyers = (counts > 0).sum(axis=0).A1
    eligible = np.flatnonzero(buyers >= 2)
    return np.sort(eligible[np.argsort(-buyers[eligible], kind="stable")[:max_items]])


def ease(
    train: pd.DataFrame | Lines,
    split: EvalSplit,
    *,
    lam: float | None = None,
    moment: float | None = None,
    max_items: int = EASE_MAX_ITEMS,
) -> Fitted:
    """EASE on the binary customer x product matrix. ``lam`` None: a sane default scaled to the
    data (``default_lambda``)."""
    started = time.perf_counter()
    inter = _interactions(train, split, moment, 90.0)
    items = ease_items(inter.counts, max_items)
    binary = (inter.counts[:, items] > 0).astype(np.float32).tocsr()
    lam = default_lambda(binary) if lam is None else lam
    weights = ease_weights(binary, lam) if len(items) else np.zeros((0, 0), np.float32)
    rows = inter.rows(split.customers)
    history = (inter.counts > 0).astype(np.float32).tocsr()

    def scorer(batch: np.ndarray) -> np.ndarray:
        out = np.full((len(batch), split.n_products), -1e9)
        if len(items):
            x = _dense_rows(binary, rows[batch])
            out[:, items] = x @ weights
        # products outside EASE's items: below every modelled one, ordered by the customer's own history
        return out + _dense_rows(history, rows[batch]) * 1e-6

    params: dict[str, float | int | str] = {"lambda": lam, "items": len(items)}
    return Fitted("ease", scorer, time.perf_counter() - started, int(inter.counts.sum()), params)


def default_lambda(binary: sp.csr_matrix) -> float:
    """λ grows with how often items occur: the mean number of buyers per modelled item, clamped
    to [50, 1000] (sparse retail lands near 50, MovieLens 100K near 100)."""
    if binary.shape[1] == 0:
        return 100.0
    mean_buyers = float(binary.sum()) / binary.shape[1]
    return float(np.clip(mean_buyers, 50.0, 1000.0))


def als(
    train: pd.DataFrame | Lines,
    split: EvalSplit,
    *,
    factors: int = 64,
    iterations: int = 20,
    regularization: float = 0.05,
    alpha: float = 2.0,
    seed: int = 42,
    moment: float | None = None,
) -> Fitted:
    """Implicit ALS on log-scaled purchase counts: confidence ``alpha * log1p(count)`` where bought (preference
    1), weight 1 and preference 0 elsewhere (implicit's model), L2 ``regularization`` on both factor sets."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    inter = _interactions(train, split, moment, 90.0)
    confidence = inter.counts.copy()
    confidence.data = alpha * np.log1p(confidence.data)
    with threadpool_limits(1, "blas"):  # implicit's own threads do the work; a BLAS pool would fight them
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
    rows = inter.rows(split.customers)
    params: dict[str, float | int | str] = {
        "factors": factors,
        "iterations": iterations,
        "regularization": regularization,
        "alpha": alpha,
    }

    def scorer(batch: np.ndarray) -> np.ndarray:
        return user_factors[rows[batch]] @ item_factors.T

    return Fitted("als", scorer, time.perf_counter() - started, int(inter.counts.sum()), params)


def rank_fusion(name: str, parts: list[Fitted], k: float = 60.0) -> Fitted:
    """Reciprocal rank fusion: sum over parts of 1 / (k + rank)."""

    def scorer(batch: np.ndarray) -> np.ndarray:
        total: np.ndarray | None = None
        for part in parts:
            scores = part.scorer(batch)
            ranks = np.argsort(np.argsort(-scores, axis=1, kind="stable"), axis=1)
            fused = 1.0 / (k + ranks)
            total = fused if total is None else total + fused
        assert total is not None
        return total

    seconds = sum(p.seconds for p in parts)
    return Fitted(name, scorer, seconds, max(p.examples for p in parts), {"k": k})


Fitter = Callable[..., Fitted]
ALL: tuple[str, ...] = ("most_popular", "own_history", "ease", "als", "own_history+ease")


def fit_all(train: pd.DataFrame | Lines, split: EvalSplit, *, moment: float | None = None) -> dict[str, Fitted]:
    """Every baseline on ``split`` (the fusion reuses the fitted own-history and EASE)."""
    train = as_lines(train)
    fitted = {
        "most_popular": most_popular(train, split, moment=moment),
        "own_history": own_history(train, split, moment=moment),
        "ease": ease(train, split, moment=moment),
        "als": als(train, split, moment=moment),
    }
    fitted["own_history+ease"] = rank_fusion("own_history+ease", [fitted["own_history"], fitted["ease"]])
    return fitted
