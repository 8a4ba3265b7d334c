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
    HISTORY_SCHEMA,
    NEIGHBOURS_SCHEMA,
    POPULARITY_SCHEMA,
    PRODUCTS_SCHEMA,
    PURCHASES_SCHEMA,
    BundleManifest,
    RankingArtifacts,
    ServingBundle,
    write_bundle,
)
from b2brec.features import CANDIDATE_FEATURES, PRODUCT_ATTRIBUTES, STRING_FEATURES, feature
from trainer.examples import product_table
from trainer.fit import TrainResult
from trainer.keras_env import require_keras2
from trainer.lines import Lines, as_lines
from trainer.model.hybrid import HybridModel
from trainer.model.retrieval import QUERY_INPUTS
from trainer.tf_types import Tensor

tf = require_keras2()


def _query_spec(history_length: int) -> dict[str, Any]:
    """The query tower's signature (``QUERY_INPUTS``): string features, then floats, then the history."""
    per_customer = [name for name in QUERY_INPUTS if name not in ("history", "history_weight")]
    strings = {name: tf.TensorSpec([None], tf.string, name=name) for name in per_customer if name in STRING_FEATURES}
    floats = {
        name: tf.TensorSpec([None], tf.float32, name=name) for name in per_customer if name not in STRING_FEATURES
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
    result: TrainResult,
    candidates: np.ndarray,
    history_length: int,
    store: ObjectStore,
    version: str,
    k: int = 100,
    product_ids: list[str] | None = None,
) -> dict[str, str]:
    """SavedModels under ``{version}/{saved_model,query_model,candidate_model}/`` of ``store``;
    ``candidates`` are the embeddings of ``product_ids`` (default: the two-tower's vocabulary)."""
    import tensorflow_recommenders as tfrs

    product_ids = result.product_ids if product_ids is None else product_ids
    query_spec = _query_spec(history_length)
    index = tfrs.layers.factorized_top_k.BruteForce(result.query_model, k=min(k, len(product_ids)))
    index.index(tf.constant(candidates), tf.constant(product_ids))

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


def popularity_table(frame: pd.DataFrame | Lines) -> pa.Table:
    """Purchase counts per product overall (city null) and per city, for serving fallbacks."""
    table = as_lines(frame).popularity()[["product_id", "city", "score"]]
    return pa.Table.from_pandas(table, schema=POPULARITY_SCHEMA, preserve_index=False)


def _neighbours_table(matrix: Any) -> pa.Table:
    coo = matrix.tocoo()
    return pa.table(
        {
            "product_row": coo.row.astype(np.int32),
            "neighbour_row": coo.col.astype(np.int32),
            "weight": coo.data.astype(np.float32),
        },
        schema=NEIGHBOURS_SCHEMA,
    )


def _history_table(model: HybridModel) -> pa.Table:
    inter = model.interactions
    counts = inter.counts.tocoo()
    last = inter.last_ts.tocoo()
    customers = np.asarray(inter.customers, dtype=object)
    products = np.asarray(model.product_ids, dtype=object)
    return pa.table(
        {
            "customer_id": customers[counts.row].tolist(),
            "product_id": products[counts.col].tolist(),
            "count": counts.data.astype(np.float64),
            "last_ts": last.data.astype(np.float64),
        },
        schema=HISTORY_SCHEMA,
    )


def build_bundle(
    model: HybridModel,
    frame: pd.DataFrame | Lines,
    *,
    version: str,
    cutoff: datetime,
    metadata: dict[str, Any],
    metrics: dict[str, float],
    run_id: str | None,
    model_name: str | None,
    quality: dict[str, Any] | None = None,
) -> ServingBundle:
    """Everything serving needs, as of the cutoff: product embeddings over the whole catalog,
    customer embeddings from each customer's whole history, the ranker, neighbours, decayed
    popularity, histories, purchases and the manifest. ``frame``: every row before the cutoff."""
    frame = as_lines(frame).before(cutoff.timestamp())
    table = product_table(frame, model.product_ids)
    customers = model.interactions.customers
    cities = frame.cities()
    candidates = model.product_embeddings
    queries = model.customer_embeddings
    if candidates is None or queries is None:  # no two-tower: a zero retrieval score for everyone
        candidates = np.zeros((len(model.product_ids), 1), np.float32)
        queries = np.zeros((len(customers), 1), np.float32)

    def column(name: str) -> list[str | None]:
        return [value or None for value in table[name]] if name in table else [None] * len(model.product_ids)

    attributes = {feature(name).column: column(name) for name in PRODUCT_ATTRIBUTES}
    products = pa.table({"product_id": model.product_ids, **attributes}, schema=PRODUCTS_SCHEMA)
    customer_table = pa.table(
        {"customer_id": customers, "city": [cities.get(c) or None for c in customers]}, schema=CUSTOMERS_SCHEMA
    )
    purchases = frame.distinct_pairs()
    manifest = BundleManifest(
        version=version,
        trained_at=datetime.now(UTC).isoformat(),
        embedding_dim=int(candidates.shape[1]),
        features=list(metadata["features"]),
        data_window={k: str(v) for k, v in metadata["window"].items() if k != "cutoff_given"},
        metrics={k: float(v) for k, v in metrics.items()},
        run_id=run_id,
        model_name=model_name,
        extra={
            "missing_features": metadata.get("missing_features", []),
            "dataset_digest": metadata.get("digest"),
            "scoring": "ranker",
            "moment": model.moment,
            "history_until": metadata["window"]["cutoff"] if metadata["window"].get("cutoff_given") else None,
            "score": "candidates (own history, item-item neighbours, two-tower top-N, popular) re-ranked "
            "by b2brec.ranking; the two-tower dot product is one of its features",
            "quality": quality or {},
        },
    )
    ranking = RankingArtifacts(
        ranker=model.ranker.to_dict(),
        popularity=model.tables.popularity,
        neighbours=_neighbours_table(model.tables.neighbours),
        history=_history_table(model),
    )
    return ServingBundle(
        manifest=manifest,
        candidate_embeddings=candidates,
        products=products,
        customer_embeddings=queries,
        customers=customer_table,
        purchases=pa.Table.from_pandas(purchases, schema=PURCHASES_SCHEMA, preserve_index=False),
        popularity=popularity_table(frame),
        ranking=ranking,
    )


def export_bundle(store: ObjectStore, bundle: ServingBundle) -> str:
    return write_bundle(store, bundle)
