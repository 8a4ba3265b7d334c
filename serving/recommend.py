"""Answering requests from one ModelState: known customers by the index, others by fallback."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serving.model.ranking import RankingState
from serving.model.state import FilterSpec, ModelState

FALLBACK_UNKNOWN_CITY = "unknown_customer_city_popular"
FALLBACK_UNKNOWN_OVERALL = "unknown_customer_overall_popular"
FALLBACK_REASONS = {
    FALLBACK_UNKNOWN_CITY: "customer not in this model; most popular products in their city",
    FALLBACK_UNKNOWN_OVERALL: "customer not in this model and no known city; most popular products overall",
}


@dataclass(frozen=True)
class Recommendation:
    customer_id: str
    product_rows: np.ndarray
    scores: list[float]
    fallback: bool
    fallback_reason: str | None


def _fallback(
    state: ModelState, customer_id: str, city: str | None, k: int, blocked: np.ndarray | None
) -> Recommendation:
    if city is not None and city in state.popular:
        reason, key = FALLBACK_UNKNOWN_CITY, city
    else:
        reason, key = FALLBACK_UNKNOWN_OVERALL, None
    rows = state.popular.get(key, np.empty(0, dtype=np.int64))
    scores = state.popular_scores.get(key, np.empty(0))
    if blocked is not None:
        keep = ~blocked[rows]
        rows, scores = rows[keep], scores[keep]
    return Recommendation(customer_id, rows[:k], scores[:k].tolist(), True, reason)


def _ranked(
    state: ModelState,
    ranking: RankingState,
    customer_ids: list[str],
    known: list[tuple[int, int]],
    k: int,
    filters: FilterSpec,
    blocked: np.ndarray | None,
    results: list[Recommendation | None],
) -> None:
    """Known customers through the re-ranking model: one batched index search for the two-tower
    candidates, then each customer's candidates scored by ``b2brec.ranking`` (what the trainer
    evaluated). Filtered products are dropped after scoring; a list shorter than ``k`` is padded
    with popular products, scored below the model's last."""
    rows = np.fromiter((row for _, row in known), dtype=np.int64, count=len(known))
    retrieval = state.index_for(len(rows)).search(state.customer_embeddings[rows], ranking.ranker.n_retrieval)
    overall = state.popular.get(None, np.empty(0, dtype=np.int64))
    for (position, row), retrieved in zip(known, retrieval.indices, strict=True):
        cid = customer_ids[position]
        items = ranking.items(cid)
        products, scores = ranking.score(items, state.customer_embeddings[row], retrieved, ranking.moment)
        keep = np.ones(len(products), dtype=bool)
        if blocked is not None:
            keep &= ~blocked[products]
        if filters.exclude_purchased and len(state.purchases[row]):
            keep &= ~np.isin(products, state.purchases[row])
        products, scores = products[keep][:k], scores[keep][:k]
        if len(products) < k and len(overall):
            pad = overall[~np.isin(overall, products)]
            if blocked is not None:
                pad = pad[~blocked[pad]]
            if filters.exclude_purchased and len(state.purchases[row]):
                pad = pad[~np.isin(pad, state.purchases[row])]
            pad = pad[: k - len(products)]
            floor = (scores[-1] if len(scores) else 0.0) - 1.0
            products = np.concatenate([products, pad])
            scores = np.concatenate([scores, floor - np.arange(len(pad)) * 1e-6])
        results[position] = Recommendation(cid, products, scores.tolist(), False, None)


def recommend(
    state: ModelState,
    customer_ids: list[str],
    k: int,
    filters: FilterSpec,
    cities: dict[str, str] | None = None,
) -> list[Recommendation]:
    """Recommendations for each customer, in request order. Known customers are scored by the
    re-ranking model when the bundle has one (else in one matrix product of the embeddings);
    unknown ones get the popularity fallback (city from the request, if any)."""
    cities = cities or {}
    blocked = state.blocked_mask(filters)
    known = [(i, state.customer_rows[c]) for i, c in enumerate(customer_ids) if c in state.customer_rows]
    results: list[Recommendation | None] = [None] * len(customer_ids)
    if known and state.ranking is not None:
        _ranked(state, state.ranking, customer_ids, known, k, filters, blocked, results)
    elif known:
        rows = np.fromiter((row for _, row in known), dtype=np.int64, count=len(known))
        excluded = [state.purchases[row] for row in rows] if filters.exclude_purchased else None
        found = state.index_for(len(rows)).search(
            state.customer_embeddings[rows], k, blocked=blocked, excluded=excluded
        )
        for (position, _), products, scores in zip(known, found.indices, found.scores, strict=True):
            cid = customer_ids[position]
            results[position] = Recommendation(cid, products, scores.tolist(), False, None)
    for position, cid in enumerate(customer_ids):
        if results[position] is None:
            results[position] = _fallback(state, cid, cities.get(cid), k, blocked)
    return [r for r in results if r is not None]


def items(state: ModelState, rec: Recommendation) -> list[dict[str, object]]:
    """Response items of one recommendation, best first."""
    return [
        {
            "rank": rank,
            "product_id": state.product_ids[row],
            "score": score,
            "name": state.product_names[row],
            "category": state.product_categories[row],
            "subcategory": state.product_subcategories[row],
        }
        for rank, (row, score) in enumerate(zip(rec.product_rows.tolist(), rec.scores, strict=True), start=1)
    ]
