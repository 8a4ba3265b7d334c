"""Recall@k and NDCG against hand-computed values; the shared evaluator and baselines on a tiny split."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from trainer import baselines
from trainer.evaluation import build_split, evaluate, evaluate_views, ndcg_at_k, recall_at_k, time_split


def test_recall_at_k_is_the_share_of_test_products_in_the_top_k() -> None:
    # truth {1, 2, 3, 4}; top 2 = [1, 9] finds 1 of 4; top 5 finds 1, 2, 3 -> 3/4.
    assert recall_at_k([1, 9, 2, 8, 3], {1, 2, 3, 4}, 2) == 0.25
    assert recall_at_k([1, 9, 2, 8, 3], {1, 2, 3, 4}, 5) == 0.75
    assert recall_at_k([1], set(), 5) == 0.0
    # two more test products the ranking cannot contain stay in the denominator: 3 of 6
    assert recall_at_k([1, 9, 2, 8, 3], {1, 2, 3, 4}, 5, missed=2) == 0.5


def test_ndcg_at_10_by_hand() -> None:
    # hits at ranks 1 and 3: DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal for 2 relevant = 1 + 1/log2(3).
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k([5, 0, 6, 1], {5, 6}, 10) == pytest.approx(expected)
    assert ndcg_at_k([5, 6], {5, 6}, 10) == pytest.approx(1.0)
    assert ndcg_at_k([0, 1], {5}, 10) == 0.0
    # a missed product raises the ideal: 3 relevant -> ideal 1 + 1/log2(3) + 1/log2(4)
    assert ndcg_at_k([5, 6], {5, 6}, 10, missed=1) == pytest.approx(
        (1 + 1 / math.log2(3)) / (1 + 1 / math.log2(3) + 0.5)
    )


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c"],
            "product_id": ["p0", "p1", "p1", "p2", "p1"],
            "timestamp": [1, 2, 3, 4, 5],
            "revenue": 1.0,
        }
    )
    # "d" is new (no history: the fallback's job, not evaluated); "c" buys only "px", a product
    # first sold in the test period: it is evaluated and can only miss.
    test = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "d"],
            "product_id": ["p1", "p3", "p0", "px", "p0"],
            "timestamp": [9, 9, 9, 9, 9],
            "revenue": 1.0,
        }
    )
    return train, test


def test_split_keeps_products_outside_the_catalog_in_the_truth() -> None:
    train, test = _frames()
    split = build_split(train, test, ["p0", "p1", "p2", "p3"])
    assert split.customers == ["a", "b", "c"]
    assert split.truth == [{1, 3}, {0}, set()]
    assert split.missed_new == [0, 0, 1] and split.missed_repeat == [0, 0, 0]
    # pairs (a,p1) (a,p3) (b,p0) (c,px): only (a,p1) was bought before
    assert split.repeat_share == pytest.approx(1 / 4)
    # default catalog = products sold before the cutoff: p3 is then outside and missed too
    default = build_split(train, test)
    assert default.product_ids == ["p0", "p1", "p2"]
    assert default.missed_new == [1, 0, 1]


def test_evaluate_views_by_hand() -> None:
    train, test = _frames()
    split = build_split(train, test, ["p0", "p1", "p2", "p3"])
    scores = np.array([[0.1, 0.9, 0.0, 0.5], [0.8, 0.7, 0.6, 0.0], [0.4, 0.3, 0.2, 0.1]])
    scorer = lambda rows: scores[rows]  # noqa: E731
    views = evaluate_views(scorer, split, ks=(1, 2))
    # all: a ranks p1,p3 -> truth {p1,p3}: 1/2 at 1, 1 at 2; b ranks p0 first -> 1; c can only miss -> 0.
    assert views["all"]["recall@1"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert views["all"]["recall@2"] == pytest.approx((1 + 1 + 0) / 3)
    assert views["all"]["customers"] == 3
    # new: a's bought p0,p1 leave the ranking and the truth -> p3 first, truth {p3}: 1.
    # b: p1,p2 gone, truth {p0} -> 1. c: truth {px} (new, outside the catalog) -> 0.
    assert views["new"]["recall@1"] == pytest.approx(2 / 3)
    # repeat: only a re-ordered (p1), and a ranks p1 first -> 1 over one customer
    assert views["repeat"]["recall@1"] == 1.0 and views["repeat"]["customers"] == 1
    assert evaluate(scorer, split, exclude_seen=True, ks=(1,))["recall@1"] == views["new"]["recall@1"]


def test_time_split_is_strictly_before_the_cutoff() -> None:
    day = 86400
    cutoff = datetime(2026, 1, 10, tzinfo=UTC)
    start = int(cutoff.timestamp())
    frame = pd.DataFrame(
        {
            "customer_id": ["a"] * 4,
            "product_id": ["p"] * 4,
            "timestamp": [start - 1, start, start + 2 * day - 1, start + 2 * day],
            "revenue": 1.0,
        }
    )
    train, test = time_split(frame, cutoff, 2)
    assert train["timestamp"].tolist() == [start - 1]
    assert test["timestamp"].tolist() == [start, start + 2 * day - 1]


def test_baselines_score_on_the_same_split() -> None:
    train, test = _frames()
    split = build_split(train, test, ["p0", "p1", "p2", "p3"])
    popular = baselines.most_popular(train, split)
    # p1 bought 3 times, p0 and p2 once: p1 comes first for everyone.
    assert np.argmax(popular.scorer(np.array([0, 1])), axis=1).tolist() == [1, 1]
    als = baselines.als(train, split, factors=4, iterations=3)
    assert als.scorer(np.array([0, 1])).shape == (2, 4)
    assert 0.0 <= evaluate(als.scorer, split, exclude_seen=False)["recall@100"] <= 1.0


def test_own_history_ranks_recent_purchases_first_then_popular() -> None:
    day = 86400
    train = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "b"],
            "product_id": ["old", "old", "new", "pop", "pop", "pop"],
            "timestamp": [0, 1, 100 * day, 5, 6, 7],
            "revenue": 1.0,
        }
    )
    test = pd.DataFrame({"customer_id": ["a"], "product_id": ["pop"], "timestamp": [101 * day], "revenue": 1.0})
    split = build_split(train, test)
    fitted = baselines.own_history(train, split, moment=101 * day, half_life_days=10)
    scores = fitted.scorer(np.array([0]))[0]
    order = [split.product_ids[i] for i in np.argsort(-scores)]
    # "old" was bought twice ~100 days ago: weight 2 * 0.5**10 ~ 0.002 < 1 * 0.5**0.1 for "new";
    # "pop" was never bought by a: it follows both.
    assert order == ["new", "old", "pop"]


def test_ease_weights_equal_the_closed_form() -> None:
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    matrix = sp.csr_matrix((rng.random((40, 8)) < 0.3).astype(np.float32))
    weights = baselines.ease_weights(matrix, 5.0)
    gram = (matrix.T @ matrix).toarray() + 5.0 * np.eye(8)
    inverse = np.linalg.inv(gram)
    expected = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(weights, expected, atol=1e-5)


@pytest.mark.parametrize("regularization", [0.05, 0.5])
def test_als_one_customer_one_product_by_hand(regularization: float) -> None:
    """One customer bought one product once: confidence c = alpha * log1p(1) = 2 ln 2 (alpha = 2).
    With one factor ALS minimises c (1 - x y)^2 + lambda (x^2 + y^2); its fixed point has x = y and
    x y = 1 - lambda / c, the score the baseline must give (0.96393 for lambda 0.05, 0.63933 for 0.5)."""
    train = pd.DataFrame({"customer_id": ["a"], "product_id": ["p"], "timestamp": [1], "revenue": 1.0})
    split = build_split(train, train, ["p"])
    fitted = baselines.als(train, split, factors=1, iterations=50, regularization=regularization)
    expected = 1 - regularization / (2 * math.log1p(1))
    assert fitted.scorer(np.array([0]))[0, 0] == pytest.approx(expected, abs=1e-3)


def test_als_two_disjoint_customers_by_hand() -> None:
    """a bought p twice, b bought q once; with two factors the problem splits into two one-factor ones
    (a's and p's factors orthogonal to b's and q's), so a scores p at 1 - lambda / (2 ln 3), b scores q
    at 1 - lambda / (2 ln 2), and each scores the other's product 0."""
    train = pd.DataFrame(
        {"customer_id": ["a", "a", "b"], "product_id": ["p", "p", "q"], "timestamp": [1, 2, 3], "revenue": 1.0}
    )
    split = build_split(train, train, ["p", "q"])
    scores = baselines.als(train, split, factors=2, iterations=50, regularization=0.1).scorer(np.array([0, 1]))
    expected = np.array([[1 - 0.1 / (2 * math.log1p(2)), 0.0], [0.0, 1 - 0.1 / (2 * math.log1p(1))]])
    np.testing.assert_allclose(scores, expected, atol=1e-3)
