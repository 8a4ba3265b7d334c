"""Answering requests from one ModelState and the customers' warehouse history.

Who gets what (``Recommendation.source``):

- ``model``: the customer bought before the model's cutoff, in the extracted window or before it
  (the trainer builds every such customer's query embedding and history from their whole history);
- ``history``: not in the model (first bought after its cutoff) but in the warehouse history: a
  query built from the model's embeddings of what they bought (frequency and recency weighted);
- ``fallback``: unknown: popular products of their city (from the request, else the warehouse),
  else overall.

Every answer has exactly ``k`` items when the catalogue allows: a short list is padded with
popular products, each marked ``padding``. Products the client excludes (postage, fees) are never
served; "exclude purchased" leaves out everything the customer ever bought. Ids like ``12347.0``
are read as ``12347`` when that customer exists, with a note in the answer.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from serving.history import CustomerHistory, candidate_ids, history_weights, stored_spellings
from serving.model.ranking import RankingState, items_from_history
from serving.model.state import FilterSpec, ModelState

FALLBACK_UNKNOWN_CITY = "unknown_customer_city_popular"
FALLBACK_UNKNOWN_OVERALL = "unknown_customer_overall_popular"
FALLBACK_REASONS = {
    FALLBACK_UNKNOWN_CITY: "customer not in this model; most popular products in their city",
    FALLBACK_UNKNOWN_OVERALL: "customer not in this model and no known city; most popular products overall",
}
_EMPTY_HISTORY = CustomerHistory()
_CACHE_SIZE = 4
_row_cache: OrderedDict[int, tuple[ModelState, dict[str, int]]] = OrderedDict()
_excluded_cache: OrderedDict[tuple[int, int], tuple[ModelState, CustomerHistory, np.ndarray | None]] = OrderedDict()


@dataclass(frozen=True)
class Recommendation:
    customer_id: str
    product_rows: np.ndarray
    scores: list[float]
    fallback: bool
    fallback_reason: str | None
    padded: int = 0  # the last ``padded`` items are popular products added to reach k
    source: str = "model"  # model | history | fallback
    notes: tuple[str, ...] = field(default_factory=tuple)


def _product_rows(state: ModelState) -> dict[str, int]:
    entry = _row_cache.get(id(state))
    if entry is None or entry[0] is not state:
        entry = (state, {pid: row for row, pid in enumerate(state.product_ids.tolist())})
        _row_cache[id(state)] = entry
        while len(_row_cache) > _CACHE_SIZE:
            _row_cache.popitem(last=False)
    return entry[1]


def _excluded_mask(state: ModelState, history: CustomerHistory) -> np.ndarray | None:
    """bool [n]: products the client's rules exclude (None when there are none in this model)."""
    key = (id(state), id(history))
    entry = _excluded_cache.get(key)
    if entry is None or entry[0] is not state or entry[1] is not history:
        rows = _product_rows(state)
        hits = [rows[p] for p in history.excluded_products if p in rows]
        mask = None
        if hits:
            mask = np.zeros(state.n_products, dtype=bool)
            mask[hits] = True
        entry = (state, history, mask)
        _excluded_cache[key] = entry
        while len(_excluded_cache) > _CACHE_SIZE:
            _excluded_cache.popitem(last=False)
    return entry[2]


def blocked_rows(state: ModelState, filters: FilterSpec, history: CustomerHistory) -> np.ndarray | None:
    """Products no one may get in this request: the request's filters and the client's exclusions."""
    shared, excluded = state.blocked_mask(filters), _excluded_mask(state, history)
    if shared is None or excluded is None:
        return shared if excluded is None else excluded
    return shared | excluded


def resolve_id(state: ModelState, history: CustomerHistory, raw: str) -> tuple[str, tuple[str, ...]]:
    """(the id to answer for, notes). A mangled id is read as the customer it stands for, if any."""
    if raw in state.customer_rows or history.knows(raw):
        return raw, ()
    for candidate in candidate_ids(raw):
        if candidate in state.customer_rows or history.knows(candidate):
            return candidate, (f"customer id {raw!r} was read as {candidate!r}; send ids exactly as stored",)
    for stored in stored_spellings(raw):
        if stored in state.customer_rows or history.knows(stored):
            note = (
                f"customer id {raw!r} is stored as {stored!r} in your data (a number saved as a decimal); "
                "answered for it"
            )
            return stored, (note,)
    if candidate_ids(raw):
        return raw, (f"customer id {raw!r} looks mangled (e.g. a number saved as {raw.strip()!r}) and is unknown",)
    return raw, ()


def _bought_rows(state: ModelState, history: CustomerHistory, customer_id: str) -> np.ndarray:
    rows = _product_rows(state)
    return np.fromiter((rows[i.product_id] for i in history.items(customer_id) if i.product_id in rows), np.int64)


def _history_query(state: ModelState, history: CustomerHistory, customer_id: str, now: float) -> np.ndarray | None:
    """A query vector from the customer's purchases: weighted mean of their products' embeddings."""
    rows = _product_rows(state)
    items = [i for i in history.items(customer_id) if i.product_id in rows]
    if not items:
        return None
    weights = history_weights(items, now)
    vectors = state.exact.vectors(np.array([rows[i.product_id] for i in items], dtype=np.int64))
    return (weights[:, None] * vectors).sum(axis=0) / max(weights.sum(), 1e-12)


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
    return Recommendation(customer_id, rows[:k], scores[:k].tolist(), True, reason, source="fallback")


def pad(
    state: ModelState,
    rec: Recommendation,
    k: int,
    blocked: np.ndarray | None,
    excluded: np.ndarray | None,
    city: str | None = None,
) -> Recommendation:
    """Fill a short answer up to ``k`` with popular products (the city's, then overall, then the
    rest of the catalogue in its order, score 0) that are not blocked, not excluded for this
    customer and not already in it; each is marked padding."""
    if len(rec.product_rows) >= k:
        return rec
    taken = set(rec.product_rows.tolist())
    if excluded is not None:
        taken.update(excluded.tolist())
    rows, scores = list(rec.product_rows.tolist()), list(rec.scores)
    sources: list[tuple[list[int], list[float]]] = []
    for key in ([city] if city in state.popular else []) + [None]:
        popular = state.popular.get(key, np.empty(0, np.int64))
        sources.append((popular.tolist(), state.popular_scores.get(key, np.zeros(len(popular))).tolist()))
    sources.append((list(range(state.n_products)), [0.0] * state.n_products))  # then the rest of the catalogue
    for candidates, candidate_scores in sources:
        for row, score in zip(candidates, candidate_scores, strict=True):
            if len(rows) >= k:
                break
            if row in taken or (blocked is not None and blocked[row]):
                continue
            taken.add(row)
            rows.append(row)
            scores.append(float(score))
    added = len(rows) - len(rec.product_rows)
    return Recommendation(
        rec.customer_id,
        np.asarray(rows, dtype=np.int64),
        scores,
        rec.fallback,
        rec.fallback_reason,
        rec.padded + added,
        rec.source,
        rec.notes,
    )


def _ranked(
    state: ModelState,
    ranking: RankingState,
    targets: list[tuple[int, str, int | None]],
    k: int,
    blocked: np.ndarray | None,
    exclusions: list[np.ndarray | None],
    history: CustomerHistory,
    now: float,
    resolved: list[tuple[str, tuple[str, ...]]],
    results: list[Recommendation | None],
    raw_ids: list[str],
) -> None:
    """Customers with a history through the re-ranking model (``b2brec.ranking``, what the trainer
    evaluated): one batched index search for the two-tower candidates of the model's customers, then
    each customer's candidates scored and filtered. The history is the warehouse's (scored as of
    ``now``) when it knows the customer, else the bundle's (as of the training cutoff). A customer
    outside the model's training data has no two-tower embedding: its retrieval features stay empty."""
    if not targets:
        return
    with_rows = [(i, row) for i, _, row in targets if row is not None]
    retrieved: dict[int, np.ndarray] = {}
    if with_rows:
        vectors = state.customer_embeddings[[row for _, row in with_rows]]
        found = state.index_for(len(with_rows)).search(vectors, ranking.ranker.n_retrieval)
        retrieved = {i: found.indices[j] for j, (i, _) in enumerate(with_rows)}
    for i, cid, row in targets:
        live = history.items(cid)
        if live:
            items, moment = items_from_history(live, ranking.product_rows), max(now, ranking.moment)
        else:
            items, moment = ranking.items(cid), ranking.moment
        query = state.customer_embeddings[row] if row is not None else None
        products, scores = ranking.score(items, query, retrieved.get(i), moment)
        keep = np.ones(len(products), dtype=bool)
        if blocked is not None:
            keep &= ~blocked[products]
        purchased = exclusions[i]
        if purchased is not None and len(purchased):
            keep &= ~np.isin(products, purchased)
        source = "model" if row is not None else "history"
        results[i] = Recommendation(
            raw_ids[i], products[keep][:k], scores[keep][:k].tolist(), False, None, source=source, notes=resolved[i][1]
        )


def recommend(
    state: ModelState,
    customer_ids: list[str],
    k: int,
    filters: FilterSpec,
    cities: dict[str, str] | None = None,
    history: CustomerHistory | None = None,
    now: float | None = None,
) -> list[Recommendation]:
    """Recommendations for each customer, in request order (see the module docstring).

    With a re-ranking bundle, model and history customers are scored by ``b2brec.ranking``; otherwise
    model customers are scored in one matrix product, history customers in another. ``now`` (epoch
    seconds, default: the newest purchase known) weighs history by recency."""
    cities = cities or {}
    history = history or _EMPTY_HISTORY
    blocked = blocked_rows(state, filters, history)
    resolved = [resolve_id(state, history, raw) for raw in customer_ids]
    if now is None:
        now = max((i.last_ts for items in history.purchases.values() for i in items[:1]), default=0.0)
    results: list[Recommendation | None] = [None] * len(customer_ids)
    exclusions: list[np.ndarray | None] = [None] * len(customer_ids)
    model = [(i, state.customer_rows[cid]) for i, (cid, _) in enumerate(resolved) if cid in state.customer_rows]
    queries: list[tuple[int, np.ndarray]] = []
    for i, (cid, _) in enumerate(resolved):
        if cid not in state.customer_rows:
            query = _history_query(state, history, cid, now)
            if query is not None:
                queries.append((i, query))
    if filters.exclude_purchased:
        for i, (cid, _) in enumerate(resolved):
            bought = _bought_rows(state, history, cid)
            if cid in state.customer_rows:
                bought = np.union1d(state.purchases[state.customer_rows[cid]], bought)
            exclusions[i] = bought
    if state.ranking is not None:
        targets: list[tuple[int, str, int | None]] = [(i, resolved[i][0], row) for i, row in model]
        targets += [(i, resolved[i][0], None) for i, _ in queries]
        _ranked(state, state.ranking, targets, k, blocked, exclusions, history, now, resolved, results, customer_ids)
        model, queries = [], []
    for source, positions, vectors in (
        ("model", [i for i, _ in model], state.customer_embeddings[[row for _, row in model]] if model else None),
        ("history", [i for i, _ in queries], np.stack([q for _, q in queries]) if queries else None),
    ):
        if not positions or vectors is None:
            continue
        found = state.index_for(len(positions)).search(
            vectors, k, blocked=blocked, excluded=[exclusions[i] for i in positions]
        )
        for i, products, scores in zip(positions, found.indices, found.scores, strict=True):
            results[i] = Recommendation(
                customer_ids[i], products, scores.tolist(), False, None, source=source, notes=resolved[i][1]
            )
    out = []
    for i, raw in enumerate(customer_ids):
        cid, notes = resolved[i]
        city = cities.get(raw) or cities.get(cid) or history.city(cid)
        rec = results[i]
        if rec is None:
            fallback = _fallback(state, raw, city, k, blocked)
            rec = Recommendation(
                raw, fallback.product_rows, fallback.scores, True, fallback.fallback_reason, 0, "fallback", notes
            )
            purchased = exclusions[i]
            if purchased is not None and len(purchased):
                keep = ~np.isin(rec.product_rows, purchased)
                rec = Recommendation(
                    raw,
                    rec.product_rows[keep],
                    [float(x) for x in np.asarray(rec.scores)[keep]],
                    True,
                    rec.fallback_reason,
                    0,
                    "fallback",
                    notes,
                )
        out.append(pad(state, rec, k, blocked, exclusions[i], city))
    return out


def items(state: ModelState, rec: Recommendation) -> list[dict[str, object]]:
    """Response items of one recommendation, best first; padding items are marked."""
    first_padding = len(rec.product_rows) - rec.padded
    return [
        {
            "rank": rank,
            "product_id": state.product_ids[row],
            "score": score,
            "name": state.product_names[row],
            "category": state.product_categories[row],
            "subcategory": state.product_subcategories[row],
            "padding": rank > first_padding,
        }
        for rank, (row, score) in enumerate(zip(rec.product_rows.tolist(), rec.scores, strict=True), start=1)
    ]
