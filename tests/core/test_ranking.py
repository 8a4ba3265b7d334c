"""The served model's scoring (b2brec.ranking) by hand, its trees against scikit-learn, the quality
verdict and promotion rule, and the bundle's ranking files round-tripping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from b2brec.backends.storage import ObjectStore
from b2brec.bundle import (
    CUSTOMERS_SCHEMA,
    HISTORY_SCHEMA,
    NEIGHBOURS_SCHEMA,
    POPULARITY_SCHEMA,
    PRODUCTS_SCHEMA,
    PURCHASES_SCHEMA,
    BundleError,
    BundleManifest,
    RankingArtifacts,
    ServingBundle,
    read_bundle,
    write_bundle,
)
from b2brec.quality import may_promote, verdict
from b2brec.ranking import (
    DAY,
    FEATURES,
    CustomerItems,
    RankerWeights,
    _compiled_entry,
    candidates,
    catalog_tables,
    features,
    linear_score,
    neighbour_scores,
    tree_score,
)


def _ranker(**overrides: object) -> RankerWeights:
    zeros = (0.0,) * len(FEATURES)
    values: dict[str, object] = {
        "features": FEATURES,
        "mean": zeros,
        "scale": (1.0,) * len(FEATURES),
        "weights": zeros,
        "bias": 0.0,
        "half_life_days": 10.0,
        "n_retrieval": 2,
        "n_ease": 1,
        "n_popular": 1,
    }
    return RankerWeights(**(values | overrides))  # type: ignore[arg-type]


def _tables() -> object:
    # 5 products; popularity: p4 most popular. Neighbours: p0 -> p1 (0.5), p0 -> p2 (0.2), p3 -> p1 (0.1).
    neighbours = sp.csr_matrix(([0.5, 0.2, 0.1], ([0, 0, 3], [1, 2, 1])), shape=(5, 5))
    return catalog_tables(
        np.array([3.0, 1.0, 2.0, 0.0, 9.0]),
        np.array([0, 0, 1, 1, -1]),
        np.array([-1, -1, -1, -1, -1]),
        neighbours,
    )


def test_neighbour_scores_sum_the_rows_of_the_history() -> None:
    tables = _tables()
    items = CustomerItems(np.array([0, 3]), np.array([2.0, 1.0]), np.array([0.0, 0.0]))
    rows, scores = neighbour_scores(items, tables)  # type: ignore[arg-type]
    # x = {p0, p3}: p1 gets 0.5 + 0.1, p2 gets 0.2
    assert dict(zip(rows.tolist(), scores.tolist(), strict=True)) == pytest.approx({1: 0.6, 2: 0.2})


def test_candidates_are_the_union_of_every_source() -> None:
    tables = _tables()
    items = CustomerItems(np.array([3]), np.array([1.0]), np.array([0.0]))
    ease = neighbour_scores(items, tables)  # type: ignore[arg-type]
    # history {p3} + best neighbour {p1} + retrieval top 2 of [2, 0, 1] = {p2, p0} + popular top 1 {p4}
    found = candidates(items, tables, _ranker(), np.array([2, 0, 1]), ease)  # type: ignore[arg-type]
    assert found.tolist() == [0, 1, 2, 3, 4]


def test_features_by_hand() -> None:
    tables = _tables()
    moment = 100 * DAY
    # bought p0 three times, last 10 days ago; p2 once, 30 days ago
    items = CustomerItems(np.array([0, 2]), np.array([3.0, 1.0]), np.array([90 * DAY, 70 * DAY]))
    ranker = _ranker()
    rows = np.array([0, 1, 4])
    ease = neighbour_scores(items, tables)  # type: ignore[arg-type]
    matrix = features(
        items,
        rows,
        moment,
        tables,
        ranker,
        (np.array([0.3, 0.2, 0.1]), np.array([1, 0])),
        ease,  # type: ignore[arg-type]
    )
    col = {name: matrix[:, i] for i, name in enumerate(FEATURES)}
    assert col["retrieval_score"].tolist() == [0.3, 0.2, 0.1]
    # retrieval top list [p1, p0]: p0 at rank 1, p1 at rank 0, p4 absent -> cap n_retrieval = 2
    assert col["retrieval_rank"] == pytest.approx(np.log1p([1, 0, 2]))
    assert col["neighbour_score"] == pytest.approx([0.0, 0.5, 0.0])  # p1 <- p0 (0.5); p2 has no row to p1
    assert col["bought"].tolist() == [1.0, 0.0, 0.0]
    assert col["log_count"] == pytest.approx([np.log1p(3), 0, 0])
    assert col["recency"] == pytest.approx([0.5, 0, 0])  # 10 days at a 10-day half-life
    assert col["log_days_since"] == pytest.approx([np.log1p(10), 0, 0])
    assert col["share"] == pytest.approx([3 / 4, 0, 0])
    assert col["popularity"] == pytest.approx(np.log1p([3.0, 1.0, 9.0]))
    # popularity order p4, p0, p2, p1, p3
    assert col["popularity_rank"] == pytest.approx(np.log1p([1, 3, 0]))
    # category 0 holds p0 (3 lines) of the customer's 4 lines; p1 is category 0 too; p4 has none
    assert col["category_share"] == pytest.approx([3 / 4, 3 / 4, 0])
    assert col["bought_x_breadth"] == pytest.approx([np.log1p(2), 0, 0])
    # the linear part: weight 2 on "bought", bias 1, standardised by mean 0 / scale 1
    weights = tuple(2.0 if name == "bought" else 0.0 for name in FEATURES)
    assert linear_score(matrix, _ranker(weights=weights, bias=1.0)).tolist() == [3.0, 1.0, 1.0]


def test_trees_score_like_scikit_learn() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from trainer.model.hybrid import HybridConfig, _fit_trees

    rng = np.random.default_rng(0)
    X = rng.random((3000, len(FEATURES)))
    y = X[:, 0] + X[:, 4] * X[:, 5] + rng.random(3000) * 0.3 > 1.0
    config = HybridConfig(tree_iterations=20)
    ranker = _fit_trees(X, y, _ranker(), config)
    reference = HistGradientBoostingClassifier(
        max_iter=20,
        max_leaf_nodes=config.tree_leaves,
        learning_rate=0.1,
        min_samples_leaf=50,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=config.seed,
    ).fit(X, y)
    np.testing.assert_allclose(linear_score(X, ranker), reference.decision_function(X), atol=1e-9)
    again = RankerWeights.from_dict(ranker.to_dict())  # what the bundle stores
    np.testing.assert_allclose(linear_score(X[:50], again), reference.decision_function(X[:50]), atol=1e-9)


def test_the_compiled_forest_walk_gives_the_numpy_walks_leaves() -> None:
    """Serving walks the forest as one tree in scikit-learn's compiled walker; its sums must be the
    numpy walk's, bit for bit (NaN goes right in both), and trees not in scikit-learn's node order
    (a child before its parent: a walk that might never end) fall back to numpy."""
    from trainer.model.hybrid import HybridConfig, _fit_trees

    rng = np.random.default_rng(1)
    X = rng.random((2000, len(FEATURES)))
    y = X[:, 1] - X[:, 6] + rng.random(2000) * 0.2 > 0.2
    ranker = _fit_trees(X, y, _ranker(), HybridConfig(tree_iterations=37))
    assert ranker.trees is not None
    probe = rng.random((500, len(FEATURES)))
    probe[::7, 1] = np.nan
    probe[::11, 6] = np.nan
    _, _, predictor = _compiled_entry(ranker.trees)
    assert predictor is not None, "scikit-learn is installed: the compiled walk must be used"
    compiled, numpy_walk = tree_score(probe, ranker.trees), tree_score(probe, ranker.trees, compiled_walk=False)
    assert np.array_equal(compiled, numpy_walk)
    assert not np.allclose(compiled, compiled[0]), "the trees must separate the rows for this to mean anything"
    first_end = int(ranker.trees["roots"][1])
    one_tree = {k: list(v[:first_end]) for k, v in ranker.trees.items() if k != "roots"} | {"roots": [0]}
    assert np.array_equal(tree_score(probe, one_tree), tree_score(probe, one_tree, compiled_walk=False))
    backwards = {k: list(v) for k, v in ranker.trees.items()}
    inner = [i for i, leaf in enumerate(backwards["is_leaf"]) if not leaf][1]
    backwards["left"][inner] = 0  # points back at the root: a walk that never ends
    with pytest.raises(ValueError, match="cycle"):
        RankerWeights.from_dict({**ranker.to_dict(), "trees": backwards})


def test_verdict_flags_a_model_that_loses_to_a_baseline() -> None:
    baselines = {"popular": {"all/recall@100": 0.2}, "own_history": {"all/recall@100": 0.45}}
    losing = verdict({"all/recall@100": 0.4}, baselines)
    assert losing.loses_to_baseline and losing.best_baseline == "own_history"
    assert losing.margin == pytest.approx(-0.05)
    assert "LOSES" in losing.summary
    winning = verdict({"all/recall@100": 0.5}, baselines)
    assert not winning.loses_to_baseline
    unknown = verdict({"all/recall@100": 0.5}, {})
    assert unknown.best_baseline is None and not unknown.loses_to_baseline


def test_a_losing_model_never_replaces_a_better_live_one() -> None:
    losing = verdict({"all/recall@100": 0.4}, {"b": {"all/recall@100": 0.45}}).to_dict()
    good = verdict({"all/recall@100": 0.5}, {"b": {"all/recall@100": 0.45}}).to_dict()
    assert may_promote(losing, None)[0]  # nothing live: something must serve
    allowed, reason = may_promote(losing, good)
    assert not allowed and "live model stays" in reason
    assert may_promote(good, losing)[0]
    worse_loser = verdict({"all/recall@100": 0.3}, {"b": {"all/recall@100": 0.45}}).to_dict()
    assert may_promote(losing, worse_loser)[0]  # both lose; the new one scores higher
    assert not may_promote(worse_loser, losing)[0]


def _bundle(neighbour_rows: list[int]) -> ServingBundle:
    products = pa.table(
        {"product_id": ["p0", "p1"], "name": [None, None], "category": ["c", None], "subcategory": [None, None]},
        schema=PRODUCTS_SCHEMA,
    )
    ranking = RankingArtifacts(
        ranker=_ranker().to_dict(),
        popularity=np.array([2.0, 1.0]),
        neighbours=pa.table(
            {
                "product_row": neighbour_rows,
                "neighbour_row": [1] * len(neighbour_rows),
                "weight": [0.5] * len(neighbour_rows),
            },
            schema=NEIGHBOURS_SCHEMA,
        ),
        history=pa.table(
            {"customer_id": ["a"], "product_id": ["p0"], "count": [2.0], "last_ts": [5.0]}, schema=HISTORY_SCHEMA
        ),
    )
    return ServingBundle(
        manifest=BundleManifest(
            version="v1",
            trained_at="2026-01-01T00:00:00+00:00",
            embedding_dim=2,
            features=["customer_id", "product_id"],
            data_window={},
            extra={"scoring": "ranker"},
        ),
        candidate_embeddings=np.zeros((2, 2), np.float32),
        products=products,
        customer_embeddings=np.zeros((1, 2), np.float32),
        customers=pa.table({"customer_id": ["a"], "city": [None]}, schema=CUSTOMERS_SCHEMA),
        purchases=pa.table({"customer_id": ["a"], "product_id": ["p0"]}, schema=PURCHASES_SCHEMA),
        popularity=pa.table({"product_id": ["p0"], "city": [None], "score": [1.0]}, schema=POPULARITY_SCHEMA),
        ranking=ranking,
    )


def test_ranking_files_round_trip_and_are_validated(tmp_path: Path) -> None:
    store = ObjectStore((tmp_path / "models").as_uri())
    write_bundle(store, _bundle([0]))
    back = read_bundle(store, "v1")
    assert back.ranking is not None
    assert back.ranking.history.to_pylist() == [{"customer_id": "a", "product_id": "p0", "count": 2.0, "last_ts": 5.0}]
    assert RankerWeights.from_dict(back.ranking.ranker) == _ranker()
    with pytest.raises(BundleError, match="neighbours.product_row must index the 2 products"):
        write_bundle(store, _bundle([7]))
    store.delete("v1/serving/ranking/history.parquet")
    with pytest.raises(BundleError, match="lacks history.parquet"):
        read_bundle(store, "v1")


def test_a_ranker_with_non_finite_values_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        _ranker(bias=float("nan"))
    broken = _bundle([0])
    assert broken.ranking is not None
    bad = RankingArtifacts(
        ranker={
            **broken.ranking.ranker,
            "trees": {
                "feature": [0],
                "threshold": [0.0],
                "left": [0],
                "right": [5],
                "value": [1.0],
                "is_leaf": [0],
                "roots": [0],
            },
        },
        popularity=np.array([np.inf, 1.0]),
        neighbours=broken.ranking.neighbours,
        history=broken.ranking.history,
    )
    problems = bad.problems(2)
    assert any("popularity holds NaN or infinite" in p for p in problems)
    assert any("links outside the tree" in p for p in problems)
