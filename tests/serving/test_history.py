"""Serving knows the customer: history from a real DuckDB warehouse, served through the real app.

Expected products are computed in the test from the bundle's own embeddings (dot products), as the
other serving tests do; the warehouse holds a customer the model never saw, older purchases of a
model customer, a cancellation, an excluded fee product and a city.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import DuckDBWarehouse
from b2brec.bundle import write_bundle
from b2brec.settings import Settings
from b2brec.spec.clientspec import RowRules
from serving.app import create_app
from serving.config import ServingSettings
from serving.history import CustomerHistory, HistoryCache, history_weights, load_history
from serving.model.loader import BundleSource
from serving.synthetic import synthetic_bundle

RULES = RowRules(cancellation_prefixes=["C"], exclude_products=["p7"])
BUNDLE = synthetic_bundle("v1", n_products=400, n_customers=120, seed=1)


def _fill(warehouse: DuckDBWarehouse) -> None:
    lines = [
        # a customer from before the training window (not in the bundle): 3 x p10, 1 x p20, p30 cancelled
        ("1", "12347", "p10", "2025-06-01", 2.0, "I1"),
        ("2", "12347", "p10", "2025-07-01", 2.0, "I2"),
        ("3", "12347", "p10", "2025-08-01", 2.0, "I3"),
        ("4", "12347", "p20", "2025-02-01", 5.0, "I4"),
        ("5", "12347", "p30", "2025-08-01", 5.0, "C5"),
        # a model customer's purchase from before the window
        ("6", "c1", "p55", "2024-01-01", 1.0, "I6"),
        ("7", None, "p99", "2025-01-01", 1.0, "I7"),
        ("8", "12347", "p7", "2025-08-02", 15.0, "I8"),  # postage: excluded
    ]
    with warehouse.connect() as conn:
        conn.execute("CREATE SCHEMA raw_data")
        conn.execute(
            "CREATE TABLE raw_data.transactions (transaction_id VARCHAR, customer_id VARCHAR, product_id VARCHAR, "
            '"timestamp" TIMESTAMP, revenue DOUBLE, invoice_id VARCHAR)'
        )
        conn.executemany("INSERT INTO raw_data.transactions VALUES (?, ?, ?, ?, ?, ?)", lines)
        conn.execute("CREATE TABLE raw_data.customers (customer_id VARCHAR, city VARCHAR)")
        conn.executemany("INSERT INTO raw_data.customers VALUES (?, ?)", [("12347", "Hamburg"), ("55501", "Munich")])


@pytest.fixture
def history_warehouse(tmp_path: Path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(tmp_path / "history.duckdb")
    _fill(warehouse)
    return warehouse


@pytest.fixture
def client(tmp_path: Path, settings: Settings, history_warehouse: DuckDBWarehouse) -> Iterator[TestClient]:
    store = ObjectStore((tmp_path / "models").as_uri())
    write_bundle(store, BUNDLE)
    cache = HistoryCache(lambda until: load_history(history_warehouse, RULES, until), refresh_seconds=0)
    app = create_app(
        settings, ServingSettings(version="v1", prediction_log=False), source=BundleSource(store), history=cache
    )
    with TestClient(app) as test_client:
        assert cache.refreshed.wait(timeout=30)  # the first load runs in the background
        assert cache.current.purchases, cache.error
        yield test_client


def _post(client: TestClient, path: str, body: dict) -> dict:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _ids(data: dict) -> list[str]:
    return [item["product_id"] for item in data["items"]]


def test_history_is_loaded_with_the_rules(history_warehouse: DuckDBWarehouse) -> None:
    history = load_history(history_warehouse, RULES)
    items = history.items("12347")
    # newest first; the C invoice (p30) and the excluded postage line (p7) are not purchases
    assert [(i.product_id, i.count) for i in items] == [("p10", 3), ("p20", 1)]
    assert history.city("12347") == "Hamburg" and history.city("55501") == "Munich"
    assert history.excluded_products == frozenset({"p7"})
    assert "None" not in history.purchases and len(history.purchases) == 2  # the line without a customer
    assert history.normalize_id("12347.0") == "12347" and history.normalize_id(" 12347 ") == "12347"
    assert history.normalize_id("c1.0", known=lambda c: c == "c1") == "c1.0"  # only numbers lose a ".0"
    assert history.normalize_id("99999.0") == "99999.0"


def _expected_history_top(k: int, exclude: set[str], items: list | None = None) -> list[str]:
    """The query is the recency/frequency-weighted mean of p10's and p20's embeddings; the answer is
    the top-k dot products over the catalogue without the excluded product p7 (and ``exclude``)."""
    items = items if items is not None else load_history_items()
    now = max(i.last_ts for i in items)
    weights = history_weights(items, now)
    rows = [int(i.product_id[1:]) for i in items]
    query = (weights[:, None] * BUNDLE.candidate_embeddings[rows]).sum(axis=0) / weights.sum()
    scores = BUNDLE.candidate_embeddings @ query
    order = [f"p{r}" for r in np.argsort(-scores, kind="stable")]
    return [p for p in order if p != "p7" and p not in exclude][:k]


def load_history_items() -> list:
    from serving.history import HistoryItem

    def ts(day: str) -> float:
        return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()

    return [HistoryItem("p10", 3, ts("2025-08-01"), 6.0), HistoryItem("p20", 1, ts("2025-02-01"), 5.0)]


def test_customer_from_before_the_window_gets_model_results(client: TestClient) -> None:
    data = _post(client, "/recommend", {"customer_id": "12347", "k": 10})
    assert (data["fallback"], data["source"], data["notes"]) == (False, "history", [])
    # "now" for the recency weights is the newest purchase in the warehouse (p10 on 2025-08-01)
    assert _ids(data)[:5] == _expected_history_top(5, set())[:5]
    assert "p7" not in _ids(data)


def test_mangled_ids_are_read_or_flagged(client: TestClient) -> None:
    plain = _post(client, "/recommend", {"customer_id": "12347", "k": 10})
    mangled = _post(client, "/recommend", {"customer_id": "12347.0", "k": 10})
    assert _ids(mangled) == _ids(plain) and mangled["source"] == "history"
    assert mangled["customer_id"] == "12347.0" and "read as '12347'" in mangled["notes"][0]
    unknown = _post(client, "/recommend-batch", {"customer_ids": ["99999.0", "c3"], "k": 5})["results"]
    assert unknown[0]["fallback"] and "looks mangled" in unknown[0]["notes"][0]
    assert unknown[1]["source"] == "model" and unknown[1]["notes"] == []


def test_exclude_purchased_uses_the_whole_history(client: TestClient) -> None:
    # c1's purchase of p55 happened before the training window: the bundle does not know it
    bundle_purchases = {
        p
        for c, p in zip(*(BUNDLE.purchases.column(n).to_pylist() for n in ("customer_id", "product_id")), strict=True)
        if c == "c1"
    }
    assert "p55" not in bundle_purchases
    scores = BUNDLE.candidate_embeddings @ BUNDLE.customer_embeddings[1]
    order = [f"p{r}" for r in np.argsort(-scores, kind="stable")]
    k = order.index("p55") + 1  # big enough that p55 would be in the answer
    data = _post(client, "/recommend", {"customer_id": "c1", "k": k, "filters": {"exclude_purchased": True}})
    expected = [p for p in order if p not in bundle_purchases | {"p55", "p7"}][:k]
    assert _ids(data) == expected
    history = _post(client, "/recommend", {"customer_id": "12347", "k": 20, "filters": {"exclude_purchased": True}})
    assert {"p10", "p20"}.isdisjoint(_ids(history))
    assert _ids(history) == _expected_history_top(20, {"p10", "p20"})


def test_fallback_uses_the_warehouse_city_and_answers_have_k_items(client: TestClient) -> None:
    data = _post(client, "/recommend", {"customer_id": "55501", "k": 300})
    assert data["fallback"] and data["source"] == "fallback"
    assert data["fallback_reason"] == "customer not in this model; most popular products in their city"
    items = data["items"]
    # the bundle ranks 200 products per city (less p7, which is excluded); the rest is padding, marked
    popularity = BUNDLE.popularity.to_pylist()
    munich = [r["product_id"] for r in popularity if r["city"] == "Munich" and r["product_id"] != "p7"]
    assert len(items) == 300 and len(set(_ids(data))) == 300 and "p7" not in _ids(data)
    assert _ids(data)[: len(munich)] == munich
    assert [i["padding"] for i in items] == [False] * len(munich) + [True] * (300 - len(munich))
    assert [i["rank"] for i in items] == list(range(1, 301))
    # k up to 500; a catalogue of 400 without the excluded p7 allows 399
    everything = _post(client, "/recommend", {"customer_id": "c2", "k": 500})
    assert len(everything["items"]) == 399 and not everything["items"][0]["padding"]
    assert client.post("/recommend", json={"customer_id": "c2", "k": 501}).status_code == 422


def test_history_refresh_keeps_serving_when_the_warehouse_fails(tmp_path: Path) -> None:
    calls = {"n": 0}

    def loader(until: float | None) -> CustomerHistory:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("warehouse busy")
        return CustomerHistory(cities={"x": f"city{calls['n']}"})

    cache = HistoryCache(loader, refresh_seconds=0)
    assert cache.refresh().city("x") == "city1"
    assert cache.refresh().city("x") == "city1" and cache.error == "OSError: warehouse busy"
    assert cache.refresh().city("x") == "city3" and cache.error is None


def test_a_backtest_model_is_served_as_of_its_cutoff(
    tmp_path: Path, settings: Settings, history_warehouse: DuckDBWarehouse
) -> None:
    """A model trained with an explicit cutoff on a warehouse that also holds the later sales (how a
    backtest is run) must not see them through the history: not in "exclude purchased", not in
    recency. 12347 bought p10 on 2025-06-01, 07-01 and 08-01 (and p7, excluded, on 08-02); the cutoff
    is 2025-07-15."""
    from dataclasses import replace

    from serving.history import HistoryItem

    cutoff = datetime(2025, 7, 15, tzinfo=UTC)
    manifest = replace(BUNDLE.manifest, extra={**BUNDLE.manifest.extra, "history_until": cutoff.isoformat()})
    store = ObjectStore((tmp_path / "models").as_uri())
    write_bundle(store, replace(BUNDLE, manifest=manifest))
    cache = HistoryCache(lambda until: load_history(history_warehouse, RULES, until), refresh_seconds=0)
    app = create_app(
        settings, ServingSettings(version="v1", prediction_log=False), source=BundleSource(store), history=cache
    )
    with TestClient(app) as test_client:
        assert cache.refreshed.wait(timeout=30)
        assert cache.current.until == cutoff.timestamp(), cache.error
        seen = [(i.product_id, i.count) for i in cache.current.items("12347")]
        assert seen == [("p10", 2), ("p20", 1)], "only the purchases before the cutoff"
        data = _post(test_client, "/recommend", {"customer_id": "12347", "k": 20})
        items = [
            HistoryItem("p10", 2, datetime(2025, 7, 1, tzinfo=UTC).timestamp(), 4.0),
            HistoryItem("p20", 1, datetime(2025, 2, 1, tzinfo=UTC).timestamp(), 5.0),
        ]
        assert _ids(data) == _expected_history_top(20, set(), items)
    # the same warehouse read without a bound (a model with the default cutoff) sees all three p10 lines
    assert [(i.product_id, i.count) for i in load_history(history_warehouse, RULES).items("12347")][0] == ("p10", 3)


def test_a_numeric_id_stored_as_a_decimal_is_found(client: TestClient) -> None:
    """The reverse mangling: the client's data holds ``55502.0`` (an import through a float), the
    caller sends ``55502``: answered for the stored customer with a note, never a silent fallback."""
    from serving.recommend import resolve_id

    state = client.app.state.registry.current  # type: ignore[attr-defined]
    history = CustomerHistory(purchases={"55502.0": load_history_items()})
    assert resolve_id(state, history, "55502") == (
        "55502.0",
        ("customer id '55502' is stored as '55502.0' in your data (a number saved as a decimal); answered for it",),
    )
    assert resolve_id(state, history, "55503") == ("55503", ())  # unknown either way: no note
    assert resolve_id(state, CustomerHistory(purchases={"55502": []}), "55502") == ("55502", ())
