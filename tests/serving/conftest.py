"""Serving fixtures: tiny synthetic bundles written with the real bundle writer into a real
(folder) object store, and the app built on them with a real DuckDB prediction sink."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import DuckDBWarehouse
from b2brec.bundle import write_bundle
from b2brec.prediction_log import DuckDBSink
from b2brec.settings import Settings
from serving.app import create_app
from serving.config import ServingSettings
from serving.model.loader import BundleSource
from serving.synthetic import synthetic_bundle

N_PRODUCTS = 400


@pytest.fixture
def models_store(tmp_path: Path) -> ObjectStore:
    store = ObjectStore((tmp_path / "models").as_uri())
    write_bundle(store, synthetic_bundle("v1", n_products=N_PRODUCTS, n_customers=120, seed=1))
    write_bundle(store, synthetic_bundle("v2", n_products=N_PRODUCTS, n_customers=120, seed=2))
    return store


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def serving_settings() -> ServingSettings:
    return ServingSettings(version="v1", flush_interval_s=0.2, compute_threads=2)


@pytest.fixture
def app(
    settings: Settings, serving_settings: ServingSettings, models_store: ObjectStore, warehouse: DuckDBWarehouse
) -> FastAPI:
    return create_app(
        settings, serving_settings, source=BundleSource(models_store), prediction_sink=DuckDBSink(warehouse)
    )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The app on a real uvicorn server on 127.0.0.1, in a thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        raise RuntimeError("uvicorn did not become ready")
    yield url
    server.should_exit = True
    thread.join(timeout=10)
