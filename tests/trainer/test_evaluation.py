"""Recall@k and NDCG against hand-computed values; the shared evaluator and baselines on a tiny split."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trainer import baselines
from trainer.evaluation import build_split, evaluate, ndcg_at_k, recall_at_k


def test_recall_at_k_is_the_share_of_test_products_in_the_top_k() -> None:
    # truth {1, 2, 3, 4}; top 2 = [1, 9] finds 1 of 4; top 5 finds 1, 2, 3 -> 3/4.
    assert recall_at_k([1, 9, 2, 8, 3], {1, 2, 3, 4}, 2) == 0.25
    assert recall_at_k([1, 9, 2, 8, 3], {1, 2, 3, 4}, 5) == 0.75
    assert recall_at_k([1], set(), 5) == 0.0


def test_ndcg_at_10_by_hand() -> None:
    # hits at ranks 1 and 3: DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal for 2 relevant = 1 + 1/log2(3).
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k([5, 0, 6, 1], {5, 6}, 10) == pytest.approx(expected)
    assert ndcg_at_k([5, 6], {5, 6}, 10) == pytest.approx(1.0)
    assert ndcg_at_k([0, 1], {5}, 10) == 0.0


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c"],
            "product_id": ["p0", "p1", "p1", "p2", "p1"],
            "timestamp": [1, 2, 3, 4, 5],
            "revenue": 1.0,
        }
    )
    # "d" is new (not in train) and "c" buys an unknown product only: neither is evaluated.
    test = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "d"],
            "product_id": ["p1", "p3", "p0", "px", "p0"],
            "timestamp": [9, 9, 9, 9, 9],
            "revenue": 1.0,
        }
    )
    return train, test


def test_evaluate_with_and_without_excluding_already_bought() -> None:
    train, test = _frames()
    split = build_split(train, test, ["p0", "p1", "p2", "p3"])
    assert split.customers == ["a", "b"]
    scores = np.array([[0.1, 0.9, 0.0, 0.5], [0.8, 0.7, 0.6, 0.0]])  # a ranks p1,p3,p0,p2; b ranks p0,p1,p2,p3
    scorer = lambda rows: scores[rows]  # noqa: E731
    # a: truth {p1, p3}; top-1 = p1 -> 1/2. b: truth {p0}; top-1 = p0 -> 1. Mean 0.75.
    kept = evaluate(scorer, split, exclude_seen=False, ks=(1, 2))
    assert kept["recall@1"] == 0.75 and kept["recall@2"] == 1.0 and kept["customers"] == 2
    # excluding bought: a loses p0, p1 -> ranks p3 first, truth {p3}: 1. b: p1, p2 gone, truth {p0} -> 1.
    excluded = evaluate(scorer, split, exclude_seen=True, ks=(1,))
    assert excluded["recall@1"] == 1.0
    assert excluded["coverage@10"] == 0.75  # a's list p3,p2 and b's p0,p3: 3 of the 4 products appear


def test_baselines_score_on_the_same_split() -> None:
    train, test = _frames()
    split = build_split(train, test, ["p0", "p1", "p2", "p3"])
    popular = baselines.most_popular(train, split)
    # p1 bought 3 times, p0 and p2 once: p1 comes first for everyone.
    assert np.argmax(popular.scorer(np.array([0, 1])), axis=1).tolist() == [1, 1]
    als = baselines.als(train, split, factors=4, iterations=3)
    assert als.scorer(np.array([0, 1])).shape == (2, 4)
    assert 0.0 <= evaluate(als.scorer, split, exclude_seen=False)["recall@100"] <= 1.0


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
