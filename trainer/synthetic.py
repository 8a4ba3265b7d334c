"""A small wholesale-like data set for tests and benchmarks when no generator output is at hand.

Customers re-order from their own regular basket (most of a next-period basket is repeats, as in
real wholesale data), explore products of their preferred categories, and follow city tastes.
``load_into_warehouse`` writes the frames as the platform's ``raw_data`` tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from b2brec.backends.warehouse import DuckDBWarehouse

_WORDS = ("fresh", "organic", "classic", "premium", "café", "bio", "extra", "mini", "maxi", "crème")


@dataclass(frozen=True, kw_only=True)
class WholesaleConfig:
    customers: int = 300
    products: int = 400
    categories: int = 8
    cities: int = 10
    days: int = 120
    orders_per_customer: float = 12.0
    lines_per_order: float = 5.0
    repeat_share: float = 0.75
    seed: int = 7
    end: datetime = datetime(2026, 6, 30)


def generate(config: WholesaleConfig) -> dict[str, pd.DataFrame]:
    """customers, products and transactions frames with the platform columns."""
    rng = np.random.default_rng(config.seed)
    n_p, n_c = config.products, config.customers
    category = rng.integers(0, config.categories, n_p)
    subcategory = category * 3 + rng.integers(0, 3, n_p)
    popularity = 1.0 / np.arange(1, n_p + 1) ** 0.8
    rng.shuffle(popularity)
    price = np.round(rng.lognormal(2.0, 0.7, n_p), 2)
    products = pd.DataFrame(
        {
            "product_id": [f"P{i:05d}" for i in range(n_p)],
            "name": [f"{_WORDS[i % len(_WORDS)]} item {c} {i}" for i, c in enumerate(category)],
            "category": [f"cat-{c}" for c in category],
            "subcategory": [f"sub-{s}" for s in subcategory],
            "price": price,
        }
    )
    city = rng.integers(0, config.cities, n_c)
    city_taste = rng.dirichlet(np.ones(config.categories) * 0.5, config.cities)
    transactions: list[tuple[str, str, datetime, float, float]] = []
    start = config.end - timedelta(days=config.days)
    for c in range(n_c):
        prefs = 0.5 * city_taste[city[c]] + 0.5 * rng.dirichlet(np.ones(config.categories) * 0.3)
        weights = popularity * prefs[category]
        weights /= weights.sum()
        basket = rng.choice(n_p, size=int(rng.integers(5, 25)), replace=False, p=weights)
        basket_weights = rng.dirichlet(np.ones(len(basket)))
        n_orders = max(1, rng.poisson(config.orders_per_customer))
        for day in np.sort(rng.uniform(0, config.days, n_orders)):
            lines = max(1, rng.poisson(config.lines_per_order))
            repeats = rng.random(lines) < config.repeat_share
            chosen = np.where(
                repeats, rng.choice(basket, size=lines, p=basket_weights), rng.choice(n_p, size=lines, p=weights)
            )
            when = start + timedelta(days=float(day))
            for p in set(chosen.tolist()):
                quantity = float(rng.integers(1, 10))
                transactions.append((f"C{c:05d}", f"P{p:05d}", when, quantity, round(quantity * price[p], 2)))
    frame = pd.DataFrame(transactions, columns=["customer_id", "product_id", "timestamp", "quantity", "revenue"])
    frame.insert(0, "transaction_id", [f"T{i:07d}" for i in range(len(frame))])
    customers = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n_c)],
            "name": [f"Customer {i}" for i in range(n_c)],
            "city": [f"City {k}" for k in city],
        }
    )
    return {"customers": customers, "products": products, "transactions": frame}


def load_into_warehouse(warehouse: DuckDBWarehouse, frames: dict[str, pd.DataFrame]) -> None:
    """(Re)create ``raw_data.{customers,products,transactions}`` from the frames."""
    with warehouse.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw_data")
        for name, frame in frames.items():
            conn.register("frame", frame)
            conn.execute(f"CREATE OR REPLACE TABLE raw_data.{name} AS SELECT * FROM frame")
            conn.unregister("frame")
