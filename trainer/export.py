"""Export a trained model: SavedModels (retrieval, query tower, candidate tower) and the serving bundle."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from b2brec.backends.storage import ObjectStore
from b2brec.bundle import (
    CUSTOMERS_SCHEMA,
    POPULARITY_SCHEMA,
    PRODUCTS_SCHEMA,
    PURCHASES_SCHEMA,
    BundleManifest,
    ServingBundle,
    write_bundle,
)
from b2brec.features import CANDIDATE_FEATURES
from trainer.fit import TrainResult, embed_customers, embed_products
from trainer.keras_env import require_keras2
from trainer.tf_types import Tensor

tf = require_keras2()


def _query_spec(history_length: int) -> dict[str, Any]:
    strings = {name: tf.TensorSpec([None], tf.string, name=name) for name in ("customer_id", "city")}
    floats = {
        name: tf.TensorSpec([None], tf.float32, name=name)
        for name in ("timestamp", "recency", "frequency", "avg_revenue")
    }
    return {
        **strings,
        **floats,
        "history": tf.TensorSpec([None, history_length], tf.string, name="history"),
        "history_weight": tf.TensorSpec([None, history_length], tf.float32, name="history_weight"),
    }


def _candidate_spec() -> dict[str, Any]:
    specs = {name: tf.TensorSpec([None], tf.string, name=name) for name in CANDIDATE_FEATURES}
    return {**specs, "popularity": tf.TensorSpec([None], tf.float32, name="popularity")}


def _save(module: Any, call: Any, spec: dict[str, Any], path: Path) -> None:
    names = list(spec)

    def serve(*args: Tensor) -> dict[str, Tensor]:
        return call(dict(zip(names, args, strict=True)))

    function = tf.function(serve, input_signature=[spec[n] for n in names])
    tf.saved_model.save(module, str(path), signatures={"serving_default": function.get_concrete_function()})


def save_models(
    result: TrainResult, candidates: np.ndarray, history_length: int, store: ObjectStore, version: str, k: int = 100
) -> dict[str, str]:
    """SavedModels under ``{version}/{saved_model,query_model,candidate_model}/`` of ``store``."""
    import tensorflow_recommenders as tfrs

    query_spec = _query_spec(history_length)
    index = tfrs.layers.factorized_top_k.BruteForce(result.query_model, k=min(k, len(result.product_ids)))
    index.index(tf.constant(candidates), tf.constant(result.product_ids))

    def retrieve(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        scores, ids = index(inputs)
        return {"scores": scores, "product_ids": ids}

    exports = {
        "saved_model": (index, retrieve, query_spec),
        "query_model": (result.query_model, lambda x: {"embedding": result.query_model(x)}, query_spec),
        "candidate_model": (
            result.candidate_model,
            lambda x: {"embedding": result.candidate_model(x)},
            _candidate_spec(),
        ),
    }
    urls: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (module, call, spec) in exports.items():
            local = Path(tmp) / name
            _save(module, call, spec, local)
            for file in sorted(p for p in local.rglob("*") if p.is_file()):
                store.put_file(str(file), f"{version}/{name}/{file.relative_to(local).as_posix()}")
            urls[name] = store.url(f"{version}/{name}")
    return urls


def popularity_table(frame: pd.DataFrame) -> pa.Table:
    """Purchase counts per product overall (city null) and per city, for serving fallbacks."""
    overall = frame.groupby("product_id").size().rename("score").reset_index()
    overall["city"] = None
    parts = [overall]
    if "city" in frame:
        by_city = frame[frame["city"] != ""].groupby(["city", "product_id"]).size().rename("score").reset_index()
        parts.append(by_city)
    table = pd.concat(parts, ignore_index=True)[["product_id", "city", "score"]]
    table["score"] = table["score"].astype(float)
    return pa.Table.from_pandas(table, schema=POPULARITY_SCHEMA, preserve_index=False)


def build_bundle(
    result: TrainResult,
    window_frame: pd.DataFrame,
    *,
    version: str,
    cutoff: datetime,
    history_length: int,
    metadata: dict[str, Any],
    metrics: dict[str, float],
    run_id: str | None,
    model_name: str | None,
) -> ServingBundle:
    """Everything serving needs: product embeddings, customer embeddings as of the cutoff (from all
    purchases in the window), purchases, popularity, and the manifest."""
    candidates = embed_products(result)
    table = result.extra["product_table"]
    customers = sorted(set(window_frame["customer_id"]))
    cities = dict(zip(window_frame["customer_id"], window_frame["city"], strict=True)) if "city" in window_frame else {}
    queries = embed_customers(result, window_frame, customers, cutoff.timestamp(), history_length, cities)

    def column(name: str) -> list[str | None]:
        return [value or None for value in table[name]] if name in table else [None] * len(result.product_ids)

    products = pa.table(
        {
            "product_id": result.product_ids,
            "name": column("art_name"),
            "category": column("category"),
            "subcategory": column("subcategory"),
        },
        schema=PRODUCTS_SCHEMA,
    )
    customer_table = pa.table(
        {"customer_id": customers, "city": [cities.get(c) or None for c in customers]}, schema=CUSTOMERS_SCHEMA
    )
    purchases = window_frame[["customer_id", "product_id"]].drop_duplicates().sort_values(["customer_id", "product_id"])
    manifest = BundleManifest(
        version=version,
        trained_at=datetime.now(UTC).isoformat(),
        embedding_dim=int(candidates.shape[1]),
        features=list(metadata["features"]),
        data_window={k: str(v) for k, v in metadata["window"].items()},
        metrics={k: float(v) for k, v in metrics.items()},
        run_id=run_id,
        model_name=model_name,
        extra={
            "missing_features": metadata.get("missing_features", []),
            "dataset_digest": metadata.get("digest"),
            "score": "dot product; dimension [embedding_dim] is a per-product bias (query side 1), the "
            "dimensions after it a bought-before affinity (history vs. product embeddings)",
        },
    )
    return ServingBundle(
        manifest=manifest,
        candidate_embeddings=candidates,
        products=products,
        customer_embeddings=queries,
        customers=customer_table,
        purchases=pa.Table.from_pandas(purchases, schema=PURCHASES_SCHEMA, preserve_index=False),
        popularity=popularity_table(window_frame),
    )


def export_bundle(store: ObjectStore, bundle: ServingBundle) -> str:
    return write_bundle(store, bundle)
