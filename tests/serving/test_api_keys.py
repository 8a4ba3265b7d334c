"""API keys on the recommendation endpoints: required when configured, mandatory on GCP (the
Cloud Run service is public), never needed for health probes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from b2brec.backends.storage import ObjectStore
from b2brec.settings import Backend, Settings
from serving.app import create_app
from serving.config import ServingSettings
from serving.model.loader import BundleSource

KEYS = "key-for-erp-0123456789,\nkey-for-crm-9876543210"
PROTECTED = [
    ("post", "/recommend", {"customer_id": "c1"}),
    ("post", "/recommend-batch", {"customer_ids": ["c1", "c2"]}),
    ("get", "/model-info", None),
]


@pytest.fixture
def keyed(settings: Settings, models_store: ObjectStore) -> Iterator[TestClient]:
    serving = ServingSettings(version="v1", api_keys=KEYS, prediction_log=False)
    with TestClient(create_app(settings, serving, source=BundleSource(models_store))) as client:
        yield client


def _call(client: TestClient, method: str, path: str, body: object, key: str | None):  # noqa: ANN202
    headers = {"X-API-Key": key} if key is not None else {}
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_each_configured_key_opens_the_api(keyed: TestClient, method: str, path: str, body: object) -> None:
    for key in ("key-for-erp-0123456789", "key-for-crm-9876543210"):
        response = _call(keyed, method, path, body, key)
        assert response.status_code == 200, response.text


WRONG_KEYS = [None, "", "key-for-erp-012345678", "KEY-FOR-ERP-0123456789", "key-for-erp-01234567890"]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize("key", WRONG_KEYS)
def test_missing_or_wrong_keys_get_401(
    keyed: TestClient, method: str, path: str, body: object, key: str | None
) -> None:
    response = _call(keyed, method, path, body, key)
    assert response.status_code == 401, response.text
    payload = response.json()
    assert payload["status"] == "error" and "X-API-Key" in payload["message"]
    assert "key-for" not in response.text, "an error must not echo any key"


def test_health_and_metrics_need_no_key(keyed: TestClient) -> None:
    assert keyed.get("/health").status_code == 200
    assert keyed.get("/health/live").status_code == 200
    assert keyed.get("/metrics").status_code == 200


def test_openapi_declares_the_key(keyed: TestClient) -> None:
    schema = keyed.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "One of the keys in B2BREC_SERVING_API_KEYS (managed in the client app).",
    }
    assert schema["paths"]["/recommend"]["post"]["security"] == [{"APIKeyHeader": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_on_gcp_without_keys_the_api_fails_closed(settings: Settings, models_store: ObjectStore) -> None:
    gcp = settings.model_copy(update={"backend": Backend.GCP})
    serving = ServingSettings(version="v1", prediction_log=False)
    with TestClient(create_app(gcp, serving, source=BundleSource(models_store))) as client:
        response = client.post("/recommend", json={"customer_id": "c1"})
        assert response.status_code == 403
        assert "B2BREC_SERVING_API_KEYS" in response.json()["message"]
        assert client.get("/health").status_code == 200


def test_keys_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("B2BREC_SERVING_API_KEYS", "a1b2c3, d4e5f6")
    serving = ServingSettings()
    assert serving.accepted_api_keys() == (b"a1b2c3", b"d4e5f6")
    assert "a1b2c3" not in repr(serving), "keys are secrets: not shown in reprs or logs"
