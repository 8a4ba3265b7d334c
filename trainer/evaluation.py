"""One evaluation for the model and the baselines, on the same time-based split.

Recall@k: the share of a customer's test-period products found in their top k, averaged over
customers (DESIGN.md). NDCG@10 with binary relevance. Coverage@10: the share of the catalog that
appears in at least one customer's top 10. Evaluated customers are those with purchases in both
periods; test products outside the catalog (never seen in training) are left out of the truth.
With ``exclude_seen`` products bought in training are removed from both the ranking and the truth
(the "new products" view; the right one where people never buy twice, e.g. MovieLens ratings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

KS: tuple[int, ...] = (5, 10, 50, 100)
Scorer = Callable[[np.ndarray], np.ndarray]
"""Given customer positions (into ``EvalSplit.customers``), return scores [len, n_products]."""


def recall_at_k(ranked: Sequence[int], truth: set[int], k: int) -> float:
    if not truth:
        return 0.0
    return len(set(ranked[:k]) & truth) / len(truth)


def ndcg_at_k(ranked: Sequence[int], truth: set[int], k: int) -> float:
    dcg = sum(1.0 / np.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in truth)
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(len(truth), k)))
    return dcg / ideal if ideal else 0.0


@dataclass(frozen=True)
class EvalSplit:
    customers: list[str]
    product_ids: list[str]
    truth: list[set[int]]
    seen: list[set[int]]

    @property
    def n_products(self) -> int:
        return len(self.product_ids)


def build_split(train: pd.DataFrame, test: pd.DataFrame, product_ids: list[str]) -> EvalSplit:
    position = {p: i for i, p in enumerate(product_ids)}
    seen_by = train.groupby("customer_id")["product_id"].agg(lambda s: {position[p] for p in s if p in position})
    truth_by = test.groupby("customer_id")["product_id"].agg(lambda s: {position[p] for p in s if p in position})
    customers = sorted(c for c in truth_by.index if c in seen_by.index and truth_by[c])
    return EvalSplit(
        customers=customers,
        product_ids=list(product_ids),
        truth=[truth_by[c] for c in customers],
        seen=[seen_by[c] for c in customers],
    )


def evaluate(
    scorer: Scorer, split: EvalSplit, *, exclude_seen: bool, ks: Sequence[int] = KS, batch: int = 1024
) -> dict[str, float]:
    """Metrics for one scorer; keys like ``recall@10``, ``ndcg@10``, ``coverage@10``, ``customers``."""
    top = min(max(*ks, 10), split.n_products)
    sums: dict[str, float] = {f"recall@{k}": 0.0 for k in ks} | {"ndcg@10": 0.0}
    recommended: set[int] = set()
    evaluated = 0
    for start in range(0, len(split.customers), batch):
        rows = np.arange(start, min(start + batch, len(split.customers)))
        scores = np.array(scorer(rows), dtype=np.float64, copy=True)
        if exclude_seen:
            for row, position in enumerate(rows):
                scores[row, list(split.seen[position])] = -np.inf
        part = (
            np.argpartition(-scores, top - 1, axis=1)[:, :top]
            if top < split.n_products
            else (np.tile(np.arange(split.n_products), (len(rows), 1)))
        )
        order = np.take_along_axis(part, np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable"), 1)
        for row, position in enumerate(rows):
            truth = split.truth[position] - split.seen[position] if exclude_seen else split.truth[position]
            if not truth:
                continue
            ranked = [i for i in order[row].tolist() if scores[row, i] > -np.inf]
            evaluated += 1
            for k in ks:
                sums[f"recall@{k}"] += recall_at_k(ranked, truth, k)
            sums["ndcg@10"] += float(ndcg_at_k(ranked, truth, 10))
            recommended.update(ranked[:10])
    metrics = {name: value / evaluated if evaluated else 0.0 for name, value in sums.items()}
    metrics["coverage@10"] = len(recommended) / split.n_products if split.n_products else 0.0
    metrics["customers"] = float(evaluated)
    return metrics


def evaluate_both(scorer: Scorer, split: EvalSplit, ks: Sequence[int] = KS) -> dict[str, float]:
    """``all/…`` (repeat purchases count) and ``new/…`` (already-bought products excluded)."""
    return {
        **{f"all/{k}": v for k, v in evaluate(scorer, split, exclude_seen=False, ks=ks).items()},
        **{f"new/{k}": v for k, v in evaluate(scorer, split, exclude_seen=True, ks=ks).items()},
    }


def embedding_scorer(customer_embeddings: np.ndarray, product_embeddings: np.ndarray) -> Scorer:
    return lambda rows: customer_embeddings[rows] @ product_embeddings.T
