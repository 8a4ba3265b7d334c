"""Query and candidate towers (Keras 2 via tf-keras).

Both towers share one product-id embedding: the candidate tower embeds the product, the query tower
averages the embeddings of the customer's purchase history. Each tower ends in a linear layer over
[deep features, raw features] (a skip connection). Two more terms ride along in the same dot product:

* a per-product bias: the query gets a constant 1 and the candidate its learned bias there;
* a direct "bought before" affinity: the query appends its history's product embeddings summed with
  their frequency weights (divided by ``total weight ** p``, ``p`` learned, starting at a plain sum),
  the candidate appends its own product embedding, so the score gains ``sum_i w_i e_i . e_p``: large
  when ``p`` itself (or a product bought with it) is in the history. Through the deep part alone
  the model learned repeat purchases poorly (below most-popular on the demo data).

The score stays a plain dot product of the two outputs, so serving needs only the embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from b2brec.features import PRODUCT_ATTRIBUTES, feature
from trainer.keras_env import require_keras2
from trainer.tf_types import KerasLayer, StringLookup, Tensor

tf = require_keras2()

CATEGORICAL_ATTRIBUTES: tuple[str, ...] = tuple(f for f in PRODUCT_ATTRIBUTES if feature(f).encoding == "ids")
"""Product attributes embedded from an id vocabulary (category, subcategory); the name goes in as tokens."""
# The Keras base classes under Any-typed names: mypy cannot take a base class from the `tf` variable (trainer.tf_types).
_Layer: Any = tf.keras.layers.Layer
_Model: Any = tf.keras.Model


@dataclass(frozen=True, kw_only=True)
class TowerConfig:
    embedding_dim: int = 64
    layers: tuple[int, ...] = (128,)
    dropout: float = 0.0


def _string_lookup(values: list[str], *, mask: bool = False) -> StringLookup:
    return tf.keras.layers.StringLookup(
        vocabulary=values or ["<none>"], mask_token="" if mask else None, num_oov_indices=1
    )


def _normalize_text(text: Tensor) -> Tensor:
    lowered = tf.strings.lower(text, encoding="utf-8")
    return tf.strings.strip(tf.strings.regex_replace(lowered, r"[^\p{L}\p{N}]+", " "))


class ProductEmbedding(_Layer):
    """product id strings -> embeddings; "" is padding (index 0, a zero mask)."""

    def __init__(self, product_ids: list[str], dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lookup = _string_lookup(product_ids, mask=True)
        self.embedding = tf.keras.layers.Embedding(self.lookup.vocabulary_size(), dim)

    def call(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        index = self.lookup(ids)
        return self.embedding(index), tf.cast(tf.not_equal(index, 0), tf.float32)


def _mlp(config: TowerConfig, name: str) -> list[KerasLayer]:
    layers: list[KerasLayer] = []
    for i, units in enumerate(config.layers):
        layers.append(tf.keras.layers.Dense(units, activation="relu", name=f"{name}_dense_{i}"))
        if config.dropout:
            layers.append(tf.keras.layers.Dropout(config.dropout))
    return layers


class QueryTower(_Model):
    """customer id, city, revenue and time buckets, purchase history, recency and frequency."""

    def __init__(self, vocab: dict[str, Any], config: TowerConfig, products: ProductEmbedding) -> None:
        super().__init__()
        dim = config.embedding_dim
        vocabularies = vocab["vocabularies"]
        self.products = products
        self.customer_lookup = _string_lookup(vocabularies.get("customer_id", []))
        self.customer_embedding = tf.keras.layers.Embedding(self.customer_lookup.vocabulary_size(), dim)
        self.use_city = "city" in vocabularies
        if self.use_city:
            self.city_lookup = _string_lookup(vocabularies["city"])
            self.city_embedding = tf.keras.layers.Embedding(self.city_lookup.vocabulary_size(), max(dim // 4, 4))
        self.revenue_bucket = tf.keras.layers.Discretization(bin_boundaries=vocab["revenue_boundaries"] or [0.0])
        self.revenue_embedding = tf.keras.layers.Embedding(len(vocab["revenue_boundaries"]) + 2, max(dim // 8, 4))
        self.time_bucket = tf.keras.layers.Discretization(bin_boundaries=vocab["timestamp_boundaries"] or [0.0])
        self.time_embedding = tf.keras.layers.Embedding(len(vocab["timestamp_boundaries"]) + 2, max(dim // 4, 4))
        self.hidden = _mlp(config, "query")
        self.output_layer = tf.keras.layers.Dense(dim, name="query_output")
        self.history_power = self.add_weight(name="history_power", shape=(), initializer="zeros")

    def call(self, inputs: dict[str, Tensor], training: bool = False) -> Tensor:
        history, mask = self.products(inputs["history"])
        weights = tf.cast(inputs["history_weight"], tf.float32) * mask
        total = tf.reduce_sum(weights, axis=1, keepdims=True)
        pooled = tf.reduce_sum(history * weights[..., None], axis=1) / tf.maximum(total, 1e-6)
        numeric = tf.stack([inputs["recency"], inputs["frequency"], inputs["avg_revenue"]], axis=1)
        parts = [
            self.customer_embedding(self.customer_lookup(inputs["customer_id"])),
            pooled,
            self.revenue_embedding(self.revenue_bucket(inputs["avg_revenue"])),
            self.time_embedding(self.time_bucket(inputs["timestamp"])),
            tf.cast(numeric, tf.float32),
        ]
        if self.use_city:
            parts.append(self.city_embedding(self.city_lookup(inputs["city"])))
        raw = tf.concat(parts, axis=1)
        deep = raw
        for layer in self.hidden:
            deep = layer(deep, training=training) if isinstance(layer, tf.keras.layers.Dropout) else layer(deep)
        out = self.output_layer(tf.concat([deep, raw], axis=1))
        scale = tf.exp(-self.history_power * tf.math.log(tf.maximum(total, 1.0)))
        affinity = tf.reduce_sum(history * weights[..., None], axis=1) * scale
        return tf.concat([out, tf.ones_like(out[:, :1]), affinity], axis=1)


class CandidateTower(_Model):
    """product id (shared embedding), name tokens, category, subcategory, popularity bucket."""

    def __init__(self, vocab: dict[str, Any], config: TowerConfig, products: ProductEmbedding) -> None:
        super().__init__()
        dim = config.embedding_dim
        vocabularies = vocab["vocabularies"]
        self.products = products
        self.categorical: dict[str, tuple[KerasLayer, KerasLayer]] = {}
        for name in CATEGORICAL_ATTRIBUTES:
            if name in vocabularies:
                lookup = _string_lookup(vocabularies[name])
                self.categorical[name] = (lookup, tf.keras.layers.Embedding(lookup.vocabulary_size(), dim // 2))
        self.use_name = "art_name_tokens" in vocabularies
        if self.use_name:
            self.token_lookup = _string_lookup(vocabularies["art_name_tokens"], mask=True)
            self.token_embedding = tf.keras.layers.Embedding(self.token_lookup.vocabulary_size(), dim // 2)
        boundaries = vocab["popularity_boundaries"] or [0.0]
        self.popularity_bucket = tf.keras.layers.Discretization(bin_boundaries=boundaries)
        self.popularity_embedding = tf.keras.layers.Embedding(len(boundaries) + 2, max(dim // 4, 4))
        self.hidden = _mlp(config, "candidate")
        self.output_layer = tf.keras.layers.Dense(dim, name="candidate_output")
        self.bias = tf.keras.layers.Dense(1, name="candidate_bias")

    def call(self, inputs: dict[str, Tensor], training: bool = False) -> Tensor:
        product, _ = self.products(inputs["product_id"])
        parts = [product, self.popularity_embedding(self.popularity_bucket(inputs["popularity"]))]
        for name, (lookup, embedding) in self.categorical.items():
            parts.append(embedding(lookup(inputs[name])))
        if self.use_name:
            tokens = tf.strings.split(_normalize_text(inputs["art_name"]))
            index = self.token_lookup(tokens.to_tensor(default_value=""))
            mask = tf.cast(tf.not_equal(index, 0), tf.float32)[..., None]
            summed = tf.reduce_sum(self.token_embedding(index) * mask, axis=1)
            parts.append(summed / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0))
        raw = tf.concat(parts, axis=1)
        deep = raw
        for layer in self.hidden:
            deep = layer(deep, training=training) if isinstance(layer, tf.keras.layers.Dropout) else layer(deep)
        out = self.output_layer(tf.concat([deep, raw], axis=1))
        return tf.concat([out, self.bias(raw), product], axis=1)
