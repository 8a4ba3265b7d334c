"""The TFRS retrieval model: in-batch softmax with log-popularity correction and accidental-hit removal."""

from __future__ import annotations

from typing import Any

from b2brec.features import CANDIDATE_FEATURES, QUERY_FEATURES
from trainer.keras_env import require_keras2

tf = require_keras2()  # before TFRS, which needs Keras 2

import tensorflow_recommenders as tfrs  # noqa: E402

from trainer.model.towers import CandidateTower, ProductEmbedding, QueryTower, TowerConfig  # noqa: E402
from trainer.tf_types import KerasModel, Tensor  # noqa: E402

QUERY_AGGREGATES: tuple[str, ...] = ("history", "history_weight", "recency", "frequency", "avg_revenue")
"""Per-customer inputs built from the query features: the purchase history (ids and weights), recency,
frequency and average revenue (``revenue`` reaches the query tower only through ``avg_revenue``)."""
QUERY_INPUTS: tuple[str, ...] = (*(f for f in QUERY_FEATURES if f != "revenue"), *QUERY_AGGREGATES)
CANDIDATE_INPUTS: tuple[str, ...] = (*CANDIDATE_FEATURES, "popularity")


class TwoTowerModel(tfrs.Model):
    """``features`` carry the query inputs, the candidate inputs and ``sampling_probability``.

    In-batch negatives over-sample popular products; subtracting ``logq_weight * log(p)`` from the
    logits (logQ correction) undoes that, fully at weight 1, partly below (keeps some popularity prior).
    """

    def __init__(self, query_model: KerasModel, candidate_model: KerasModel, *, temperature: float) -> None:
        super().__init__()
        self.query_model = query_model
        self.candidate_model = candidate_model
        self.task = tfrs.tasks.Retrieval(temperature=temperature, remove_accidental_hits=True)

    def compute_loss(self, features: dict[str, Any], training: bool = False) -> Tensor:
        query = self.query_model({k: features[k] for k in QUERY_INPUTS}, training=training)
        candidate = self.candidate_model({k: features[k] for k in CANDIDATE_INPUTS}, training=training)
        return self.task(
            query,
            candidate,
            candidate_sampling_probability=features["sampling_probability"],
            candidate_ids=features["product_id"],
            compute_metrics=False,
            compute_batch_metrics=False,
        )


def build_towers(vocab: dict[str, Any], config: TowerConfig) -> tuple[QueryTower, CandidateTower]:
    products = ProductEmbedding(vocab["vocabularies"].get("product_id", []), config.embedding_dim)
    return QueryTower(vocab, config, products), CandidateTower(vocab, config, products)
