"""Issue 10, cases 4-6 and the serving items of case 7, against a real uvicorn server.

Credentials before the body, the body cap, caps on every field, a bounded prediction log, the admin
token rules, bundle validation at deploy time, no storage paths in admin errors, 422 for invalid
UTF-8, and the registry address of the client's own MLflow.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from b2brec.backends.secrets import LocalSecretStore
from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import DuckDBWarehouse
from b2brec.bundle import BundleRejected, write_bundle
from b2brec.context import context_for_spec
from b2brec.prediction_log import DuckDBSink
from b2brec.projects.local import create_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from serving.app import app_for_client, create_app
from serving.config import ServingSettings
from serving.credentials import Credentials, WeakAdminToken
from serving.model.loader import BundleSource
from serving.synthetic import synthetic_bundle
from tests.conftest import REPO_ROOT

KEY = "sec-api-key-0123456789abcdef"
ADMIN = "sec-admin-token-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
BEARER = {"Authorization": f"Bearer {ADMIN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def plant(store: ObjectStore, version: str, name: str, data: bytes) -> None:
    """Overwrite one file of a written bundle, as a buggy trainer or a tampered bucket would."""
    store.write_bytes(f"{version}/serving/{name}", data)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@dataclass
class Served:
    url: str
    root: Path
    warehouse: DuckDBWarehouse
    port: int


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[Served]:
    store = ObjectStore((tmp_path / "models").as_uri())
    for version, seed in (("v1", 1), ("v2", 2), ("v3-nan", 3), ("v4-dupes", 4), ("v5-inf-customers", 5)):
        write_bundle(store, synthetic_bundle(version, n_products=300, n_customers=60, seed=seed))
    candidates = synthetic_bundle("x", n_products=300, n_customers=60, seed=3).candidate_embeddings.copy()
    candidates[17, 3] = np.nan
    plant(store, "v3-nan", "candidate_embeddings.npy", npy(candidates))
    products = pq.read_table(io.BytesIO(store.read_bytes("v4-dupes/serving/products.parquet")))
    ids = products.column("product_id").to_pylist()
    ids[5] = ids[4]
    products = products.set_column(0, "product_id", pa.array(ids, pa.string()))
    buffer = io.BytesIO()
    pq.write_table(products, buffer)
    plant(store, "v4-dupes", "products.parquet", buffer.getvalue())
    customers = synthetic_bundle("x", n_products=300, n_customers=60, seed=5).customer_embeddings.copy()
    customers[0, 0] = np.inf
    plant(store, "v5-inf-customers", "customer_embeddings.npy", npy(customers))

    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    serving = ServingSettings(version="v1", api_keys=KEY, admin_token=ADMIN, flush_interval_s=0.2)
    app = create_app(settings, serving, source=BundleSource(store), prediction_sink=DuckDBSink(warehouse))
    with run_server(app) as (url, port):
        yield Served(url, tmp_path, warehouse, port)


@contextmanager
def run_server(app: FastAPI) -> Iterator[tuple[str, int]]:
    """``app`` on a real uvicorn server on 127.0.0.1 (in a thread), up once /health answers."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code in (200, 503):
                break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield url, port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def raw_request(port: int, head: str, body: bytes = b"", wait: float = 3.0) -> tuple[int, float]:
    """Send a request head (and the start of a body) over a socket; the status line and how long it took."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        started = time.monotonic()
        sock.sendall(head.encode() + b"\r\n" + body)
        reply = sock.recv(4096)
        elapsed = time.monotonic() - started
    return int(reply.split(b" ", 2)[1]), elapsed


def test_credentials_are_checked_before_the_body_is_read(served: Served) -> None:
    """A 54 MB body is announced and never sent: without a key the answer comes at once (401); the
    server used to wait for (then read and parse) the whole body before looking at the key."""
    for path, extra in (("/recommend-batch", ""), ("/admin/deploy", f"X-API-Key: {KEY}\r\n")):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}Content-Length: 54000000\r\n"
        )
        status, elapsed = raw_request(served.port, head, b'{"customer_ids": ["')
        assert status == 401 and elapsed < 2.0, (path, status, elapsed)


def test_bodies_over_the_cap_get_413_whether_announced_or_streamed(served: Served) -> None:
    head = f"POST /recommend-batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: {KEY}\r\n"
    status, elapsed = raw_request(served.port, head + "Content-Length: 3000000\r\n", b"{")
    assert status == 413 and elapsed < 2.0

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer, 4 MB in 64 KB pieces
        yield b'{"customer_ids": ["'
        for _ in range(64):
            yield b"x" * 65536
        yield b'"]}'

    response = httpx.post(f"{served.url}/recommend-batch", content=chunks(), headers=AUTH, timeout=30)
    assert response.status_code == 413
    assert response.json()["data"]["code"] == "body_too_large"
    assert httpx.get(f"{served.url}/health").status_code == 200  # and the server is fine


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer_id": "c1", "filters": {"include_categories": ["x" * 201]}}, "filters.include_categories.0"),
        ({"customer_id": "c1", "filters": {"exclude_subcategories": ["a"] * 201}}, "filters.exclude_subcategories"),
        ({"customer_id": "c1", "filters": {"include_categories": [""]}}, "filters.include_categories.0"),
        ({"customer_id": "c" * 257}, "customer_id"),
        ({"customer_id": "c1", "city": "x" * 257}, "city"),
    ],
)
def test_every_string_and_list_is_capped(served: Served, body: dict, field: str) -> None:
    response = httpx.post(f"{served.url}/recommend", json=body, headers=AUTH)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["data"]["errors"]]


def test_batch_fields_are_capped(served: Served) -> None:
    ids = [f"c{i}" for i in range(3)]
    for body in (
        {"customer_ids": ids, "cities": {f"c{i}": "Berlin" for i in range(1001)}},
        {"customer_ids": ["c1", ""]},
        {"customer_ids": ["c1", "x" * 257]},
        {"customer_ids": [f"c{i}" for i in range(1001)]},
    ):
        assert httpx.post(f"{served.url}/recommend-batch", json=body, headers=AUTH).status_code == 422


def test_a_batch_response_is_bounded(served: Served) -> None:
    """1,000 customers x k=500 used to answer 66 MB (+256 MB of memory) to one authenticated call:
    k per customer in a batch is capped at 100 in the schema (100,000 items at most)."""
    ids = [f"c{i}" for i in range(1000)]
    started = time.monotonic()
    response = httpx.post(f"{served.url}/recommend-batch", json={"customer_ids": ids, "k": 500}, headers=AUTH)
    assert response.status_code == 422 and time.monotonic() - started < 5
    assert "k: Input should be less than or equal to 100" in response.json()["message"]
    schema = httpx.get(f"{served.url}/openapi.json").json()["components"]["schemas"]["BatchRequest"]
    assert schema["properties"]["k"]["maximum"] == 100 and schema["properties"]["customer_ids"]["maxItems"] == 1000
    fine = httpx.post(f"{served.url}/recommend-batch", json={"customer_ids": ids[:3], "k": 100}, headers=AUTH)
    assert fine.status_code == 200 and [len(r["items"]) for r in fine.json()["data"]["results"]] == [100] * 3


def test_the_prediction_log_keeps_a_bounded_filter_summary(served: Served) -> None:
    """The largest filters the schema admits, for 1,000 customers: each logged row carries a short
    summary (counts and a few shortened values), not the request's ~160 KB of filter text."""
    names = [f"{i:03d}" + "n" * 197 for i in range(200)]
    filters = {key: names for key in ("exclude_categories", "exclude_subcategories")}
    body = {"customer_ids": [f"c{i}" for i in range(1000)], "k": 5, "filters": filters}
    assert len(json.dumps(body)) > 80_000
    response = httpx.post(f"{served.url}/recommend-batch", json=body, headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 20
    rows: list = []
    while time.monotonic() < deadline and len(rows) < 1000:
        time.sleep(0.3)
        if served.warehouse.table_exists("predictions", "recommendation_history"):
            rows = served.warehouse.query("SELECT filters FROM predictions.recommendation_history").to_pylist()
    assert len(rows) == 1000
    longest = max(len(r["filters"]) for r in rows)
    assert longest < 1200, longest
    summary = json.loads(rows[0]["filters"])
    assert summary["exclude_categories"]["n"] == 200 and len(summary["exclude_categories"]["values"]) == 5


def test_invalid_utf8_is_422(served: Served) -> None:
    for content_type in ("application/json", None):
        headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
        response = httpx.post(f"{served.url}/recommend", content=b'{"customer_id": "\xff\xfe"}', headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["status"] == "error"


def test_the_admin_token_needs_the_bearer_scheme(served: Served) -> None:
    rollback = f"{served.url}/admin/rollback"
    for header in (ADMIN, f"Basic {ADMIN}", f"Bearer{ADMIN}", f"Token {ADMIN}", "Bearer", "Bearer x" + ADMIN):
        assert httpx.post(rollback, headers={"Authorization": header}).status_code == 401, header
    assert httpx.post(rollback).status_code == 401
    ok = httpx.get(f"{served.url}/admin/versions", headers={"Authorization": f"bearer {ADMIN}"})
    assert ok.status_code == 200


@pytest.mark.parametrize("token", ["", " ", "short", "fifteen-chars-x"])
def test_empty_or_short_admin_tokens_refuse_to_start(token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="ADMIN_TOKEN"):
        ServingSettings(admin_token=token)
    monkeypatch.setenv("B2BREC_SERVING_ADMIN_TOKEN", token)
    with pytest.raises(ValidationError):
        ServingSettings()


def test_a_short_admin_token_secret_refuses_to_start(settings: Settings, tmp_path: Path) -> None:
    store = LocalSecretStore(tmp_path / "secrets.enc", tmp_path / "secrets.key")
    store.put("serving-admin-token", "abc123")
    with pytest.raises(WeakAdminToken):
        Credentials.from_settings(ServingSettings(), store)
    store.put("serving-admin-token", ADMIN)
    assert Credentials.from_settings(ServingSettings(), store).admin_token() == ADMIN
    assert "0123456789abcdef" not in repr(ServingSettings(admin_token=ADMIN))  # a secret: not in reprs


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("token", ["", "   ", "\n", "short"])
def test_a_blank_or_short_admin_token_secret_refuses_to_start_locally(
    settings: Settings, tmp_path: Path, token: str
) -> None:
    """B1 (audit 10): a blank secret used to start with /admin open on the local default."""
    store = LocalSecretStore(tmp_path / "secrets.enc", tmp_path / "secrets.key")
    store.put("serving-admin-token", token)
    with pytest.raises(WeakAdminToken, match="blank or shorter than 16 characters"):
        Credentials.from_settings(ServingSettings(), store)


def test_serve_refuses_to_start_on_a_blank_admin_token(settings: Settings) -> None:
    """The same through ``b2brec serve`` on a local project: exit 1 (a user error), one clear line."""
    project = create_project(load_environment(settings.environments_dir, "demo-dev"), settings)
    write_bundle(project.storage("models"), synthetic_bundle("v1", n_products=50, n_customers=10))
    project.secrets().put("serving-admin-token", "  ")
    env = {**os.environ, "B2BREC_HOME": str(settings.home), "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir)}
    argv = [sys.executable, "-m", "cli.main", "serve", "--client", project.project_id, "--port", str(free_port())]
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    output = " ".join((done.stdout + done.stderr).split())  # rich wraps long lines
    assert done.returncode != 0, output
    assert "serving-admin-token secret is blank or shorter than 16 characters" in output, output
    assert "Traceback" not in output


def test_a_local_project_gets_a_random_admin_token_and_its_admin_api_is_never_open(settings: Settings) -> None:
    project = create_project(load_environment(settings.environments_dir, "demo-dev"), settings)
    token = project.secrets().get("serving-admin-token")
    assert len(token) >= 32
    again = create_project(project.spec, settings)  # idempotent: the token is kept
    assert again.secrets().get("serving-admin-token") == token
    app = app_for_client(context_for_spec(project.spec, settings), ServingSettings(prediction_log=False))
    with run_server(app) as (url, _):
        assert httpx.get(f"{url}/admin/versions").status_code == 401
        ok = httpx.get(f"{url}/admin/versions", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text
        # The API keys secret was never created: the demo's key-less calls pass the credentials check
        # (503 here only because this project has no model yet).
        assert httpx.post(f"{url}/recommend", json={"customer_id": "c1"}).status_code == 503
        project.secrets().delete("serving-admin-token")
    # Deleted before the start: the client's admin API is disabled, not open.
    app = app_for_client(context_for_spec(project.spec, settings), ServingSettings(prediction_log=False))
    with run_server(app) as (url, _):
        refused = httpx.get(f"{url}/admin/versions")
        assert refused.status_code == 403 and refused.json()["data"]["code"] == "admin_disabled"


@pytest.mark.parametrize("change", ["blank", "spaces", "shorten", "delete"])
def test_a_token_blanked_shortened_or_deleted_at_runtime_disables_admin(
    settings: Settings, tmp_path: Path, change: str
) -> None:
    """B1: the local backend (fail_closed False) used to open /admin to anyone once the token was lost."""
    store = LocalSecretStore(tmp_path / "secrets.enc", tmp_path / "secrets.key")
    store.put("serving-admin-token", ADMIN)
    serving = ServingSettings(prediction_log=False, credentials_refresh_s=0.05)
    app = create_app(settings, serving, credentials=Credentials.from_settings(serving, store))
    assert app.state.fail_closed is False
    with run_server(app) as (url, _):
        versions = f"{url}/admin/versions"
        assert httpx.get(versions).status_code == 401
        assert httpx.get(versions, headers=BEARER).status_code == 200
        if change == "delete":
            store.delete("serving-admin-token")
        else:
            store.put("serving-admin-token", {"blank": "", "spaces": "   ", "shorten": "abc"}[change])
        _wait_for(lambda: httpx.get(versions, headers=BEARER).status_code == 403, "the lost token was still accepted")
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer abc"}, BEARER):
            refused = httpx.get(versions, headers=headers)
            assert refused.status_code == 403, (headers, refused.text)
            assert refused.json()["data"]["code"] == "admin_disabled"
            assert httpx.post(f"{url}/admin/rollback", headers=headers).status_code == 403
        store.put("serving-admin-token", ADMIN)  # a good token again: back to normal
        _wait_for(lambda: httpx.get(versions, headers=BEARER).status_code == 200, "the new token was never read")


def test_revoking_the_last_api_key_refuses_recommendations(settings: Settings, tmp_path: Path) -> None:
    """B1: the client app leaves the keys secret empty when the last key is revoked; locally that
    used to open /recommend to anyone. Deleting the secret while running refuses too."""
    models = ObjectStore((tmp_path / "models").as_uri())
    write_bundle(models, synthetic_bundle("v1", n_products=50, n_customers=10))
    store = LocalSecretStore(tmp_path / "secrets.enc", tmp_path / "secrets.key")
    store.put("serving-admin-token", ADMIN)
    store.put("serving-api-keys", KEY)
    serving = ServingSettings(version="v1", prediction_log=False, credentials_refresh_s=0.05)

    def start() -> FastAPI:
        credentials = Credentials.from_settings(serving, store)
        return create_app(settings, serving, source=BundleSource(models), credentials=credentials)

    body = {"customer_id": "c1", "k": 3}
    with run_server(start()) as (url, _):
        assert httpx.post(f"{url}/recommend", json=body, headers=AUTH).status_code == 200
        assert httpx.post(f"{url}/recommend", json=body).status_code == 401
        store.put("serving-api-keys", "")  # the client app revoked the last key
        _wait_for(lambda: httpx.post(f"{url}/recommend", json=body, headers=AUTH).status_code == 403, "still open")
        for path, payload in (("/recommend", body), ("/recommend-batch", {"customer_ids": ["c1"]})):
            refused = httpx.post(f"{url}{path}", json=payload)
            assert refused.status_code == 403 and refused.json()["data"]["code"] == "api_disabled", refused.text
        assert httpx.get(f"{url}/model-info").status_code == 403
        store.put("serving-api-keys", KEY)
        _wait_for(lambda: httpx.post(f"{url}/recommend", json=body, headers=AUTH).status_code == 200, "key unread")
        store.delete("serving-api-keys")
        _wait_for(lambda: httpx.post(f"{url}/recommend", json=body).status_code == 403, "deleted keys opened the API")
    store.put("serving-api-keys", "")
    with run_server(start()) as (url, _):  # a restart with the emptied secret stays closed
        assert httpx.post(f"{url}/recommend", json=body).status_code == 403


@pytest.mark.parametrize(
    ("version", "words"),
    [
        ("v3-nan", "NaN or infinite"),
        ("v4-dupes", "appear more than once"),
        ("v5-inf-customers", "customer embeddings hold NaN or infinite"),
    ],
)
def test_bundles_with_bad_values_are_refused_at_deploy(served: Served, version: str, words: str) -> None:
    response = httpx.post(f"{served.url}/admin/deploy", json={"version": version}, headers=BEARER, timeout=60)
    assert response.status_code == 409, response.text
    assert words in response.json()["message"] and "cannot be served" in response.json()["message"]
    assert response.json()["data"]["code"] == "bundle_rejected"
    health = httpx.get(f"{served.url}/health").json()
    assert health["data"] == {"ready": True, "model_version": "v1"}  # still the good version


def test_a_bad_bundle_is_never_ready_at_start_and_never_written(settings: Settings, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    store = ObjectStore((tmp_path / "models").as_uri())
    write_bundle(store, synthetic_bundle("v1", n_products=50, n_customers=10))
    nan = np.full((50, 64), np.nan, dtype=np.float32)
    plant(store, "v1", "candidate_embeddings.npy", npy(nan))
    serving = ServingSettings(version="v1", prediction_log=False)
    with TestClient(create_app(settings, serving, source=BundleSource(store))) as client:
        assert client.get("/health").status_code == 503
    bad = synthetic_bundle("v2", n_products=50, n_customers=10)
    bad.candidate_embeddings[3] = np.inf
    with pytest.raises(BundleRejected):
        write_bundle(store, bad)


def flat(rows: int, dim: int, degenerate: str) -> np.ndarray:
    """An embedding matrix with no ranking in it: all zero, or one (non-zero) vector on every row."""
    if degenerate == "zero":
        return np.zeros((rows, dim), np.float32)
    return np.tile(np.linspace(-1, 1, dim, dtype=np.float32), (rows, 1))


@pytest.mark.parametrize("matrix", ["candidate_embeddings", "customer_embeddings"])
@pytest.mark.parametrize("degenerate", ["zero", "the same vector"])
def test_all_zero_or_constant_embeddings_are_refused(
    settings: Settings, tmp_path: Path, served: Served, matrix: str, degenerate: str
) -> None:
    """Finite but carrying no ranking: every score ties, so customers would get an arbitrary order
    labelled as model results. Refused at write, at start (never ready) and at deploy (409)."""
    from fastapi.testclient import TestClient

    good = synthetic_bundle("v2", n_products=50, n_customers=10)
    rows, dim = getattr(good, matrix).shape
    bad = replace(good, **{matrix: flat(rows, dim, degenerate)})
    store = ObjectStore((tmp_path / "degenerate").as_uri())
    with pytest.raises(BundleRejected, match=f"embedding is {degenerate}"):
        write_bundle(store, bad)
    write_bundle(store, synthetic_bundle("v1", n_products=50, n_customers=10))
    plant(store, "v1", f"{matrix}.npy", npy(flat(rows, dim, degenerate)))
    serving = ServingSettings(version="v1", prediction_log=False)
    with TestClient(create_app(settings, serving, source=BundleSource(store))) as client:
        assert client.get("/health").status_code == 503

    models = ObjectStore((served.root / "models").as_uri())
    version = synthetic_bundle("v9-flat", n_products=300, n_customers=60, seed=9)
    write_bundle(models, version)
    rows, dim = getattr(version, matrix).shape
    plant(models, "v9-flat", f"{matrix}.npy", npy(flat(rows, dim, degenerate)))
    response = httpx.post(f"{served.url}/admin/deploy", json={"version": "v9-flat"}, headers=BEARER, timeout=60)
    assert response.status_code == 409 and response.json()["data"]["code"] == "bundle_rejected", response.text
    assert "every score ties" in response.json()["message"]
    assert httpx.get(f"{served.url}/health").json()["data"]["model_version"] == "v1"


def test_admin_errors_do_not_reveal_storage_paths(served: Served) -> None:
    for body in ({"version": "v9"}, {"version": "no-such-version"}):
        response = httpx.post(f"{served.url}/admin/deploy", json=body, headers=BEARER)
        assert response.status_code == 404
        assert str(served.root) not in response.text and "file://" not in response.text
    plant_root = served.root / "models" / "v2" / "serving" / "popularity.parquet"
    plant_root.unlink()  # a half-deleted bundle
    response = httpx.post(f"{served.url}/admin/deploy", json={"version": "v2"}, headers=BEARER)
    assert response.status_code == 409 and str(served.root) not in response.text
    versions = httpx.get(f"{served.url}/admin/versions", headers=BEARER).text
    assert str(served.root) not in versions


def test_the_registry_is_the_clients_own_mlflow(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process-wide MLFLOW_TRACKING_URI (another client's server, say) must not decide which
    registry a client's serving app resolves versions in."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1/someone-elses-mlflow")
    project = create_project(load_environment(settings.environments_dir, "demo-dev"), settings)
    serving = ServingSettings(prediction_log=False)
    assert serving.mlflow_tracking_uri == "http://127.0.0.1:1/someone-elses-mlflow"
    app = app_for_client(context_for_spec(project.spec, settings), serving)
    assert app.state.serving_settings.mlflow_tracking_uri == project.urls()["mlflow"]
