"""Deploying by MLflow registry version or alias: the server resolves the registered version's
``bundle_uri`` tag to a bundle in its models store (a real MLflow SQLite tracking store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from b2brec.backends.storage import ObjectStore
from b2brec.settings import Settings
from serving.app import create_app
from serving.config import ServingSettings
from serving.model.loader import BundleSource

MODEL = "two-tower"


@pytest.fixture
def tracking_uri(tmp_path: Path, models_store: ObjectStore) -> str:
    """A registry with v1 and v2 of the bundles registered as versions 1 and 2, alias champion -> 2,
    and a version 3 without a bundle_uri tag."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    client.create_registered_model(MODEL)
    for bundle in ("v1", "v2"):
        client.create_model_version(
            MODEL,
            source=f"{models_store.url(bundle)}/model",
            tags={"bundle_uri": models_store.url(f"{bundle}/serving")},
        )
    client.set_registered_model_alias(MODEL, "champion", "2")
    client.create_model_version(MODEL, source="file:///nowhere/model")
    return uri


@pytest.fixture
def registry_client(settings: Settings, models_store: ObjectStore, tracking_uri: str) -> Iterator[TestClient]:
    serving = ServingSettings(registered="1", mlflow_tracking_uri=tracking_uri, prediction_log=False)
    with TestClient(create_app(settings, serving, source=BundleSource(models_store))) as client:
        yield client


def test_start_up_loads_the_registered_version(registry_client: TestClient) -> None:
    assert registry_client.get("/health").json()["data"]["model_version"] == "v1"


def test_deploy_by_alias_and_by_registry_version(registry_client: TestClient) -> None:
    deployed = registry_client.post("/admin/deploy", json={"registered": "champion"})
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["data"]["model_version"] == "v2"
    assert registry_client.post("/recommend", json={"customer_id": "c1"}).json()["data"]["model_version"] == "v2"
    back = registry_client.post("/admin/deploy", json={"registered": "1"}).json()["data"]
    assert back["model_version"] == "v1" and back["previous_version"] == "v2"


@pytest.mark.parametrize(
    ("registered", "status", "says"),
    [
        ("9", 404, "no version '9'"),
        ("staging", 404, "no alias 'staging'"),
        ("3", 404, "no bundle_uri tag"),
    ],
)
def test_registry_misses_are_clear_and_keep_the_live_model(
    registry_client: TestClient, registered: str, status: int, says: str
) -> None:
    response = registry_client.post("/admin/deploy", json={"registered": registered})
    assert response.status_code == status, response.text
    assert says in response.json()["message"]
    assert registry_client.get("/health").json()["data"]["model_version"] == "v1"


def test_version_and_registered_together_are_refused(registry_client: TestClient) -> None:
    response = registry_client.post("/admin/deploy", json={"version": "v2", "registered": "2"})
    assert response.status_code == 422
    assert "not both" in response.json()["message"]


def test_without_a_registry_the_error_says_how_to_configure_one(
    settings: Settings, models_store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    serving = ServingSettings(version="v1", prediction_log=False)
    with TestClient(create_app(settings, serving, source=BundleSource(models_store))) as client:
        response = client.post("/admin/deploy", json={"registered": "champion"})
    assert response.status_code == 409
    assert "MLFLOW_TRACKING_URI" in response.json()["message"]


def test_settings_refuse_two_start_up_versions() -> None:
    with pytest.raises(ValueError, match="not both"):
        ServingSettings(version="v1", registered="champion")
