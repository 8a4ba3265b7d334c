"""Synthetic serving bundles (clustered random embeddings) for tests, benchmarks and demos
without a trained model. Trained two-tower embeddings are clustered, so these are too: uniform
random vectors would make any approximate index look worse than it is on real models."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

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
)
from b2brec.ranking import FEATURES, RankerWeights

CITIES = ("Berlin", "Hamburg", "Munich", "Cologne")
CATEGORIES = ("tools", "fasteners", "paint", "garden", "electrical")


def clustered(rng: np.random.Generator, n: int, dim: int, centers: np.ndarray, spread: float = 0.35) -> np.ndarray:
    labels = rng.integers(0, len(centers), size=n)
    noise = rng.standard_normal((n, dim), dtype=np.float32) * np.float32(spread)
    return (centers[labels] + noise).astype(np.float32)


def synthetic_bundle(
    version: str = "v1",
    *,
    n_products: int = 500,
    n_customers: int = 200,
    dim: int = 64,
    purchases_per_customer: int = 5,
    seed: int = 0,
    ranked: bool = False,
) -> ServingBundle:
    """``ranked``: with re-ranking files shaped like the trainer's (``synthetic_ranking``)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(8, int(np.sqrt(n_products))), dim), dtype=np.float32) / np.sqrt(dim / 4)
    candidates = clustered(rng, n_products, dim, centers)
    queries = clustered(rng, n_customers, dim, centers)
    product_ids = [f"p{i}" for i in range(n_products)]
    categories = [CATEGORIES[i % len(CATEGORIES)] for i in range(n_products)]
    products = pa.table(
        {
            "product_id": product_ids,
            "name": [f"product {i}" for i in range(n_products)],
            "category": categories,
            "subcategory": [f"{c}-{i % 3}" for i, c in enumerate(categories)],
        },
        schema=PRODUCTS_SCHEMA,
    )
    customer_ids = [f"c{i}" for i in range(n_customers)]
    customers = pa.table(
        {
            "customer_id": customer_ids,
            "city": [CITIES[i % len(CITIES)] if i % 10 else None for i in range(n_customers)],
        },
        schema=CUSTOMERS_SCHEMA,
    )
    bought = rng.integers(0, n_products, size=(n_customers, purchases_per_customer))
    purchases = pa.table(
        {
            "customer_id": np.repeat(customer_ids, purchases_per_customer).tolist(),
            "product_id": [product_ids[i] for i in bought.ravel()],
        },
        schema=PURCHASES_SCHEMA,
    )
    counts = np.bincount(bought.ravel(), minlength=n_products).astype(np.float64)
    top = np.argsort(-counts, kind="stable")[: min(n_products, 200)]
    rows: dict[str, list] = {"product_id": [], "city": [], "score": []}
    for city in (None, *CITIES):
        shift = 0 if city is None else CITIES.index(city) + 1
        for rank, product in enumerate(np.roll(top, shift)):
            rows["product_id"].append(product_ids[product])
            rows["city"].append(city)
            rows["score"].append(float(len(top) - rank))
    moment = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    manifest = BundleManifest(
        extra={"scoring": "ranker", "moment": moment} if ranked else {},
        version=version,
        trained_at=datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
        embedding_dim=dim,
        features=["customer_id", "product_id", "city", "category", "subcategory"],
        data_window={"start": "2025-01-01", "end": "2025-12-31"},
        metrics={"recall_at_100": 0.46},
        model_name="synthetic",
    )
    return ServingBundle(
        manifest=manifest,
        candidate_embeddings=candidates,
        products=products,
        customer_embeddings=queries,
        customers=customers,
        purchases=purchases,
        popularity=pa.table(rows, schema=POPULARITY_SCHEMA),
        ranking=synthetic_ranking(rng, counts, customer_ids, bought, product_ids, moment) if ranked else None,
    )


def _random_tree(rng: np.random.Generator, leaves: int, offset: int) -> dict[str, list[float]]:
    """One regression tree with ``leaves`` leaves, grown by splitting a random leaf (node ids from ``offset``)."""
    nodes: list[dict[str, float]] = [{"leaf": 1}]
    open_leaves = [0]
    while len(open_leaves) < leaves:
        node = open_leaves.pop(int(rng.integers(len(open_leaves))))
        left, right = len(nodes), len(nodes) + 1
        nodes += [{"leaf": 1}, {"leaf": 1}]
        nodes[node] = {"leaf": 0, "feature": int(rng.integers(len(FEATURES))), "threshold": float(rng.normal())}
        nodes[node] |= {"left": left + offset, "right": right + offset}
        open_leaves += [left, right]
    return {
        "feature": [float(n.get("feature", 0)) for n in nodes],
        "threshold": [float(n.get("threshold", 0.0)) for n in nodes],
        "left": [float(n.get("left", 0)) for n in nodes],
        "right": [float(n.get("right", 0)) for n in nodes],
        "value": [float(rng.normal(scale=0.1)) if n["leaf"] else 0.0 for n in nodes],
        "is_leaf": [float(n["leaf"]) for n in nodes],
    }


def synthetic_ranking(
    rng: np.random.Generator,
    counts: np.ndarray,
    customer_ids: list[str],
    bought: np.ndarray,
    product_ids: list[str],
    moment: float,
    *,
    trees: int = 100,
    leaves: int = 15,
    neighbour_items: int = 6000,
    neighbours: int = 100,
) -> RankingArtifacts:
    """Re-ranking files of the trainer's shape and size (``trainer.model.hybrid`` defaults): ``trees``
    gradient-boosted trees of ``leaves`` leaves over ``b2brec.ranking.FEATURES`` (random splits: the cost
    of a request is the same, the ranking is not a learned one), ``neighbours`` item-item neighbours for
    each of the ``neighbour_items`` most bought products, the customers' purchases as their history."""
    arrays: dict[str, list[float]] = {k: [] for k in ("feature", "threshold", "left", "right", "value", "is_leaf")}
    roots: list[float] = []
    for _ in range(trees):
        roots.append(float(len(arrays["value"])))
        for key, values in _random_tree(rng, leaves, len(arrays["value"])).items():
            arrays[key] += values
    arrays["roots"] = roots
    zeros = tuple(0.0 for _ in FEATURES)
    ranker = RankerWeights(
        features=FEATURES, mean=zeros, scale=tuple(1.0 for _ in FEATURES), weights=zeros, bias=0.0,
        half_life_days=90.0, trees=arrays,
    )  # fmt: skip
    n = len(product_ids)
    top = np.argsort(-counts, kind="stable")[: min(n, neighbour_items)]
    keep = min(neighbours, max(len(top) - 1, 0))
    rows = np.repeat(top, keep).astype(np.int32)
    cols = top[rng.integers(0, len(top), size=len(rows))].astype(np.int32) if len(top) else rows
    neighbour_table = pa.table(
        {"product_row": rows, "neighbour_row": cols, "weight": rng.random(len(rows), dtype=np.float32)},
        schema=NEIGHBOURS_SCHEMA,
    )
    per_customer = bought.shape[1]
    ages = rng.uniform(0, 365 * 86400.0, size=bought.size)
    history = pa.table(
        {
            "customer_id": np.repeat(customer_ids, per_customer).tolist(),
            "product_id": [product_ids[i] for i in bought.ravel()],
            "count": rng.integers(1, 6, size=bought.size).astype(np.float64),
            "last_ts": moment - ages,
        },
        schema=HISTORY_SCHEMA,
    )
    return RankingArtifacts(
        ranker=ranker.to_dict(), popularity=counts.astype(np.float64), neighbours=neighbour_table, history=history
    )
