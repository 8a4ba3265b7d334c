"""The towers' output layout: [deep embedding, bias slot, bought-before affinity], one plain dot product."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainer.keras_env import require_keras2

tf = require_keras2()

from trainer.model.retrieval import build_towers  # noqa: E402
from trainer.model.towers import TowerConfig  # noqa: E402
from trainer.vocab import build_vocabularies  # noqa: E402

DIM = 8
FEATURES = ["customer_id", "product_id", "revenue", "timestamp", "art_name", "city"]


@pytest.fixture(scope="module")
def towers() -> tuple[tf.keras.Model, tf.keras.Model]:
    train = pd.DataFrame(
        [
            ("c1", "p1", 10.0, 100, "Café noir", "Köln"),
            ("c1", "p2", 20.0, 200, "Thé vert", "Köln"),
            ("c2", "p3", 30.0, 300, "Lait entier", "Bonn"),
            ("c2", "p1", 5.0, 400, "Café noir", "Bonn"),
        ],
        columns=FEATURES,
    )
    vocab = build_vocabularies(train, FEATURES, revenue_buckets=2, time_buckets=2)
    tf.keras.utils.set_random_seed(7)
    return build_towers(vocab, TowerConfig(embedding_dim=DIM, layers=(16,)))


def _queries(history: list[list[str]], weights: list[list[float]]) -> dict[str, tf.Tensor]:
    n = len(history)
    return {
        "customer_id": tf.constant(["c1"] * n),
        "city": tf.constant(["Köln"] * n),
        "timestamp": tf.constant([500.0] * n),
        "history": tf.constant(history),
        "history_weight": tf.constant(weights, tf.float32),
        "recency": tf.zeros([n]),
        "frequency": tf.ones([n]),
        "avg_revenue": tf.ones([n]),
    }


def _candidates(products: list[str]) -> dict[str, tf.Tensor]:
    n = len(products)
    return {
        "product_id": tf.constant(products),
        "art_name": tf.constant(["Café noir"] * n),
        "category": tf.constant([""] * n),
        "subcategory": tf.constant([""] * n),
        "popularity": tf.ones([n]),
    }


def test_query_appends_a_one_and_its_weighted_history_embeddings(towers: tuple) -> None:
    query_model, _ = towers
    out = query_model(_queries([["p1", "p2", ""], ["", "", ""]], [[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])).numpy()
    assert out.shape == (2, 2 * DIM + 1)
    np.testing.assert_allclose(out[:, DIM], 1.0)
    table = query_model.products.embedding.embeddings.numpy()
    lookup = query_model.products.lookup
    p1, p2 = (int(lookup(tf.constant(p)).numpy()) for p in ("p1", "p2"))
    # the learned power starts at 0: a plain weighted sum; padding ("") adds nothing
    np.testing.assert_allclose(out[0, DIM + 1 :], 2.0 * table[p1] + table[p2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1, DIM + 1 :], 0.0)


def test_candidate_appends_its_bias_and_its_own_product_embedding(towers: tuple) -> None:
    query_model, candidate_model = towers
    out = candidate_model(_candidates(["p1", "p3"])).numpy()
    assert out.shape == (2, 2 * DIM + 1)
    table = query_model.products.embedding.embeddings.numpy()  # the one table both towers share
    for row, product in enumerate(["p1", "p3"]):
        index = int(query_model.products.lookup(tf.constant(product)).numpy())
        np.testing.assert_allclose(out[row, DIM + 1 :], table[index], rtol=1e-6)


def test_the_history_power_is_trained(towers: tuple) -> None:
    query_model, _ = towers
    assert any("history_power" in v.name for v in query_model.trainable_variables)
