"""One honest evaluation for the model and every baseline, on the same time-based split.

Recall@k: the share of a customer's test-period products found in their top k, averaged over
customers (DESIGN.md). The truth is *everything* the customer bought in the test period: a test
product the scorer cannot rank (outside its catalog, e.g. first sold after the cutoff) stays in the
denominator and counts as a miss, so a smaller catalog never inflates the score. NDCG@10 with binary
relevance. Coverage@10: the share of the catalog in at least one customer's top 10.

Evaluated customers: those with purchases before the cutoff *and* in the test period (customers
without history get the popularity fallback, which is the most-popular baseline). Three views:

* ``all/…``: rank everything, truth = every test product (repeat purchases count);
* ``new/…``: products bought before the cutoff are removed from the ranking and from the truth
  (the "bought-before excluded" view: what the list adds beyond a re-order list);
* ``repeat/…``: rank everything, truth = only the test products bought before (re-orders);
  over customers with at least one re-order.

``repeat_share`` is the share of test (customer, product) pairs that are re-orders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from trainer.lines import Lines, as_lines

KS: tuple[int, ...] = (5, 10, 50, 100)
VIEWS: tuple[str, ...] = ("all", "new", "repeat")
DAY = 86400
Scorer = Callable[[np.ndarray], np.ndarray]
"""Given customer positions (into ``EvalSplit.customers``), return scores [len, n_products]."""


def recall_at_k(ranked: Sequence[int], truth: set[int], k: int, missed: int = 0) -> float:
    """Share of ``truth`` (plus ``missed`` products the ranking cannot contain) in ``ranked[:k]``."""
    total = len(truth) + missed
    if not total:
        return 0.0
    return len(set(ranked[:k]) & truth) / total


def ndcg_at_k(ranked: Sequence[int], truth: set[int], k: int, missed: int = 0) -> float:
    dcg = sum(1.0 / np.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in truth)
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(len(truth) + missed, k)))
    return dcg / ideal if ideal else 0.0


@dataclass(frozen=True)
class EvalSplit:
    """Customers, the catalog scorers rank, and per customer: test products in the catalog
    (``truth``, positions), test products outside it (``missed_repeat``/``missed_new`` counts,
    by whether they were bought before) and products bought before the cutoff (``seen``)."""

    customers: list[str]
    product_ids: list[str]
    truth: list[set[int]]
    seen: list[set[int]]
    missed_repeat: list[int]
    missed_new: list[int]
    repeat_share: float = 0.0

    @property
    def n_products(self) -> int:
        return len(self.product_ids)


def time_split(frame: pd.DataFrame, cutoff: datetime, test_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows strictly before ``cutoff`` (training: everything the model may see) and rows in
    ``[cutoff, cutoff + test_days)`` (the test period). ``frame.timestamp`` is epoch seconds."""
    start = _epoch(cutoff)
    stop = start + test_days * DAY
    ts = frame["timestamp"].to_numpy()
    return (
        frame[ts < start].reset_index(drop=True),
        frame[(ts >= start) & (ts < stop)].reset_index(drop=True),
    )


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def cutoff_for_last_days(frame: pd.DataFrame, test_days: int) -> datetime:
    """The cutoff that leaves the last ``test_days`` days of ``frame`` as the test period."""
    last = datetime.fromtimestamp(int(frame["timestamp"].max()), UTC)
    day_after = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return day_after - timedelta(days=test_days)


def build_split(
    train: pd.DataFrame | Lines, test: pd.DataFrame | Lines, product_ids: list[str] | None = None
) -> EvalSplit:
    """``product_ids``: the catalog scorers rank (default: every product sold before the cutoff).
    Frames or ``Lines``: only distinct (customer, product) pairs are read."""
    train_lines = as_lines(train)
    if product_ids is None:
        product_ids = train_lines.product_ids()
    position = {p: i for i, p in enumerate(product_ids)}
    bought = train_lines.products_by_customer()
    wanted = as_lines(test).products_by_customer()
    customers = sorted(c for c in wanted if c in bought)
    truth, seen, missed_repeat, missed_new = [], [], [], []
    pairs = repeats = 0
    for customer in customers:
        before, after = bought[customer], wanted[customer]
        truth.append({position[p] for p in after if p in position})
        seen.append({position[p] for p in before if p in position})
        missed_repeat.append(sum(1 for p in after if p not in position and p in before))
        missed_new.append(sum(1 for p in after if p not in position and p not in before))
        pairs += len(after)
        repeats += len(after & before)
    return EvalSplit(
        customers=customers,
        product_ids=list(product_ids),
        truth=truth,
        seen=seen,
        missed_repeat=missed_repeat,
        missed_new=missed_new,
        repeat_share=repeats / pairs if pairs else 0.0,
    )


def _top(scores: np.ndarray, top: int) -> np.ndarray:
    n = scores.shape[1]
    if top < n:
        part = np.argpartition(-scores, top - 1, axis=1)[:, :top]
    else:
        part = np.tile(np.arange(n), (len(scores), 1))
    order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


class _Sums:
    def __init__(self, ks: Sequence[int]) -> None:
        self.ks = ks
        self.sums: dict[str, float] = {f"recall@{k}": 0.0 for k in ks} | {"ndcg@10": 0.0}
        self.recommended: set[int] = set()
        self.count = 0

    def add(self, ranked: list[int], truth: set[int], missed: int) -> None:
        if not truth and not missed:
            return
        self.count += 1
        for k in self.ks:
            self.sums[f"recall@{k}"] += recall_at_k(ranked, truth, k, missed)
        self.sums["ndcg@10"] += float(ndcg_at_k(ranked, truth, 10, missed))
        self.recommended.update(ranked[:10])

    def result(self, n_products: int) -> dict[str, float]:
        metrics = {name: value / self.count if self.count else 0.0 for name, value in self.sums.items()}
        metrics["coverage@10"] = len(self.recommended) / n_products if n_products else 0.0
        metrics["customers"] = float(self.count)
        return metrics


def evaluate_views(
    scorer: Scorer, split: EvalSplit, ks: Sequence[int] = KS, batch: int = 512
) -> dict[str, dict[str, float]]:
    """Metrics per view (``all``, ``new``, ``repeat``); keys like ``recall@10``, ``ndcg@10``."""
    top = max(1, min(max(*ks, 10), split.n_products))
    views = {view: _Sums(ks) for view in VIEWS}
    for start in range(0, len(split.customers), batch):
        rows = np.arange(start, min(start + batch, len(split.customers)))
        scores = np.array(scorer(rows), dtype=np.float64, copy=True)
        kept = _top(scores, top)
        for row, position in enumerate(rows):
            seen = split.seen[position]
            scores[row, list(seen)] = -np.inf
        fresh = _top(scores, top)
        for row, position in enumerate(rows):
            truth, seen = split.truth[position], split.seen[position]
            ranked = kept[row].tolist()
            views["all"].add(ranked, truth, split.missed_repeat[position] + split.missed_new[position])
            views["repeat"].add(ranked, truth & seen, split.missed_repeat[position])
            ranked_new = [i for i in fresh[row].tolist() if scores[row, i] > -np.inf]
            views["new"].add(ranked_new, truth - seen, split.missed_new[position])
    return {view: sums.result(split.n_products) for view, sums in views.items()}


def evaluate(
    scorer: Scorer, split: EvalSplit, *, exclude_seen: bool, ks: Sequence[int] = KS, batch: int = 512
) -> dict[str, float]:
    """Metrics of one view: ``new`` when ``exclude_seen`` else ``all``."""
    return evaluate_views(scorer, split, ks, batch)["new" if exclude_seen else "all"]


def evaluate_both(scorer: Scorer, split: EvalSplit, ks: Sequence[int] = KS) -> dict[str, float]:
    """Flat metrics: ``all/…``, ``new/…``, ``repeat/…`` and ``repeat_share``."""
    flat = {f"{view}/{k}": v for view, metrics in evaluate_views(scorer, split, ks).items() for k, v in metrics.items()}
    return flat | {"repeat_share": split.repeat_share}


def embedding_scorer(customer_embeddings: np.ndarray, product_embeddings: np.ndarray) -> Scorer:
    return lambda rows: customer_embeddings[rows] @ product_embeddings.T
