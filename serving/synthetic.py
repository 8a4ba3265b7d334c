"""Synthetic serving bundles (clustered random embeddings) for tests, benchmarks and demos
without a trained model. Trained two-tower embeddings are clustered, so these are too: uniform
random vectors would make any approximate index look worse than it is on real models."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from b2brec.bundle import (
    CUSTOMERS_SCHEMA,
    POPULARITY_SCHEMA,
    PRODUCTS_SCHEMA,
    PURCHASES_SCHEMA,
    BundleManifest,
    ServingBundle,
)

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
) -> ServingBundle:
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
    manifest = BundleManifest(
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
    )
