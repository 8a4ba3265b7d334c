"""The fast top-k must give exactly what a full sort gives, filters included."""

from __future__ import annotations

import numpy as np
import pytest

from serving.model.index import ApproximateIndex, ExactIndex
from serving.synthetic import clustered


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((50, 16), dtype=np.float32)
    return clustered(rng, 5003, 16, centers), clustered(rng, 150, 16, centers)


def reference(scores: np.ndarray, k: int) -> list[np.ndarray]:
    return [np.sort(row[row > -np.inf])[::-1][:k] for row in scores]


@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("threads", [1, 2])
def test_exact_top_k_matches_full_sort(data: tuple[np.ndarray, np.ndarray], k: int, threads: int) -> None:
    products, queries = data
    index = ExactIndex(products, threads=threads)
    found = index.search(queries, k)
    full = queries @ products.T
    for row, expected in enumerate(reference(full, k)):
        np.testing.assert_allclose(found.scores[row], expected, rtol=1e-5)
        np.testing.assert_allclose(full[row, found.indices[row]], found.scores[row], rtol=1e-5)


def test_exact_respects_blocked_and_excluded(data: tuple[np.ndarray, np.ndarray]) -> None:
    products, queries = data
    index = ExactIndex(products, threads=2)
    blocked = np.zeros(len(products), dtype=bool)
    blocked[::3] = True
    excluded = [np.arange(10 * r, 10 * r + 40) for r in range(len(queries))]
    found = index.search(queries, 20, blocked=blocked, excluded=excluded)
    full = queries @ products.T
    full[:, blocked] = -np.inf
    for row in range(len(queries)):
        full[row, excluded[row]] = -np.inf
        assert not blocked[found.indices[row]].any()
        assert not np.isin(found.indices[row], excluded[row]).any()
        np.testing.assert_allclose(found.scores[row], reference(full[row : row + 1], 20)[0], rtol=1e-5)


def test_fewer_allowed_products_than_k_returns_only_allowed() -> None:
    products = np.eye(4, dtype=np.float32)
    index = ExactIndex(products, threads=1)
    blocked = np.array([True, False, True, True])
    found = index.search(np.ones((1, 4), dtype=np.float32), 3, blocked=blocked)
    assert found.indices[0].tolist() == [1]


def test_approximate_index_is_tuned_to_the_recall_target(data: tuple[np.ndarray, np.ndarray]) -> None:
    products, queries = data
    exact = ExactIndex(products, threads=1)
    approx = ApproximateIndex(products, threads=1)
    recall = approx.tune(queries, exact, target=0.95)
    assert recall >= 0.95 and approx.recall_at_100 == recall
    blocked = np.zeros(len(products), dtype=bool)
    blocked[: len(products) // 2] = True
    found = approx.search(queries[:5], 10, blocked=blocked, excluded=[np.array([4000])] * 5)
    for ids in found.indices:
        assert len(ids) == 10 and (ids >= len(products) // 2).all() and 4000 not in ids


def test_single_requests_and_batches_pick_their_index_by_threshold() -> None:
    from serving.model.state import build_state
    from serving.synthetic import synthetic_bundle

    bundle = synthetic_bundle("v1", n_products=3000, n_customers=300)
    state = build_state(bundle, approx_threshold=1000, batch_approx_threshold=10**9, threads=1)
    assert state.index_for(1).kind == "ivf_pq_fastscan_refine" and state.index_for(2).kind == "exact"
    assert state.approximate is not None and state.approximate.recall_at_100 >= 0.95
