"""The client app deploys and rolls back through the one deploy path (``b2brec.live.deploy_live_version``):
a version whose bundle cannot load (NaN embeddings, a missing file) is refused with a clear error and
``live.json`` is left exactly as it was (mirrors tests/serving/test_deployments.py)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from flask import Flask
from flask.testing import FlaskClient

from b2brec.backends.storage import ObjectStore
from b2brec.bundle import write_bundle
from b2brec.live import LIVE_KEY, deployment_history, live_version
from b2brec.projects.local import LocalClientProject
from serving.synthetic import synthetic_bundle

SignedIn = Callable[[str], tuple[FlaskClient, str]]


def _nan_embeddings(store: ObjectStore, version: str) -> None:
    """Corrupt a written bundle the way a diverged training run would: one NaN product embedding."""
    key = f"{version}/serving/candidate_embeddings.npy"
    matrix = np.load(io.BytesIO(store.read_bytes(key)))
    matrix[3, 0] = np.nan
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    store.write_bytes(key, buffer.getvalue())


def _models(project: LocalClientProject) -> ObjectStore:
    store = project.storage("models")
    for seed, version in enumerate(("v1", "v2", "v3", "v4"), start=1):
        write_bundle(store, synthetic_bundle(version, n_products=30, n_customers=10, seed=seed))
    _nan_embeddings(store, "v2")
    store.delete("v3/serving/popularity.parquet")  # a file lost after the manifest was written
    return store


def _deploy(client: FlaskClient, token: str, version: str) -> tuple[int, dict]:
    response = client.post("/deployments/api/deploy", json={"version": version}, headers={"X-CSRFToken": token})
    return response.status_code, response.get_json()


def test_a_bundle_that_cannot_load_is_refused_and_live_json_is_unchanged(
    project: LocalClientProject, signed_in: SignedIn
) -> None:
    store = _models(project)
    client, token = signed_in("member")
    status, body = _deploy(client, token, "v1")
    assert status == 200, body
    before = store.read_bytes(LIVE_KEY)

    status, body = _deploy(client, token, "v2")
    assert status == 409 and body["data"]["code"] == "bundle_rejected", body
    assert "1 product embeddings hold NaN" in body["message"] and "deploy another version" in body["message"]
    status, body = _deploy(client, token, "v3")
    assert status == 409 and body["data"]["code"] == "bundle_rejected", body
    assert "missing or unreadable bundle files" in body["message"]
    assert store.read_bytes(LIVE_KEY) == before and live_version(store) == "v1"

    # the browser form says the same and changes nothing
    page = client.post("/deployments/deploy", data={"version": "v2", "csrf_token": token}, follow_redirects=True)
    assert "cannot be served" in page.get_data(as_text=True)
    assert store.read_bytes(LIVE_KEY) == before


def test_a_rollback_to_a_version_that_no_longer_loads_is_refused(
    app: Flask, project: LocalClientProject, signed_in: SignedIn
) -> None:
    store = _models(project)
    client, token = signed_in("member")
    assert _deploy(client, token, "v1")[0] == 200
    assert _deploy(client, token, "v4")[0] == 200
    _nan_embeddings(store, "v1")  # the version a rollback would go back to broke meanwhile
    before = store.read_bytes(LIVE_KEY)
    response = client.post("/deployments/api/rollback", headers={"X-CSRFToken": token})
    assert response.status_code == 409 and response.get_json()["data"]["code"] == "bundle_rejected"
    assert store.read_bytes(LIVE_KEY) == before
    assert [(d.version, d.previous, d.actor) for d in deployment_history(store)] == [
        ("v1", None, "member@example.com"),
        ("v4", "v1", "member@example.com"),
    ]
