"""API keys on the recommendation endpoints: required when configured, mandatory on GCP (the
Cloud Run service is public), never needed for health probes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from b2brec.backends.secrets import LocalSecretStore
from b2brec.backends.storage import ObjectStore
from b2brec.settings import Backend, Settings
from serving.app import create_app
from serving.config import ServingSettings
from serving.credentials import Credentials, RefreshingSecret
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
        "description": "One of the client's API keys (managed in the client app; secret serving-api-keys).",
    }
    assert schema["paths"]["/recommend"]["post"]["security"] == [{"APIKeyHeader": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_on_gcp_without_keys_the_api_fails_closed(settings: Settings, models_store: ObjectStore) -> None:
    gcp = settings.model_copy(update={"backend": Backend.GCP})
    serving = ServingSettings(version="v1", prediction_log=False)
    with TestClient(create_app(gcp, serving, source=BundleSource(models_store))) as client:
        response = client.post("/recommend", json={"customer_id": "c1"})
        assert response.status_code == 403
        assert "serving-api-keys" in response.json()["message"]
        assert client.get("/health").status_code == 200


def test_keys_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("B2BREC_SERVING_API_KEYS", "a1b2c3, d4e5f6")
    serving = ServingSettings()
    assert serving.accepted_api_keys() == (b"a1b2c3", b"d4e5f6")
    assert "a1b2c3" not in repr(serving), "keys are secrets: not shown in reprs or logs"


def _store(tmp_path: Path) -> LocalSecretStore:
    return LocalSecretStore(tmp_path / "secrets.enc", tmp_path / "secrets.key")


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_keys_and_admin_token_come_from_the_secrets_store_and_rotate_live(
    settings: Settings, models_store: ObjectStore, tmp_path: Path
) -> None:
    store = _store(tmp_path)
    store.put("serving-api-keys", "old-key-0123456789")
    serving = ServingSettings(version="v1", prediction_log=False, credentials_refresh_s=0.05)
    app = create_app(
        settings, serving, source=BundleSource(models_store), credentials=Credentials.from_settings(serving, store)
    )
    with TestClient(app) as client:

        def status(key: str) -> int:
            return client.post("/recommend", json={"customer_id": "c1"}, headers={"X-API-Key": key}).status_code

        assert status("old-key-0123456789") == 200 and status("new-key-9876543210") == 401
        assert client.post("/admin/rollback").status_code == 403  # no token yet: a client's admin API is disabled
        # The client app rotates: new key first, both valid for a while, then the old one goes.
        store.put("serving-api-keys", "old-key-0123456789\nnew-key-9876543210")
        _wait_for(lambda: status("new-key-9876543210") == 200, "the added key was never accepted")
        assert status("old-key-0123456789") == 200
        store.put("serving-api-keys", "new-key-9876543210")
        _wait_for(lambda: status("old-key-0123456789") == 401, "the revoked key was still accepted")
        store.put("serving-admin-token", "admin-0123456789")
        _wait_for(lambda: client.post("/admin/rollback").status_code == 401, "the admin token was never read")
        authorised = client.post("/admin/rollback", headers={"Authorization": "Bearer admin-0123456789"})
        assert authorised.status_code == 409 and "no previous version" in authorised.json()["message"]


def test_on_gcp_the_service_starts_before_its_secrets_have_values(
    settings: Settings, models_store: ObjectStore, tmp_path: Path
) -> None:
    """No secret in the environment: the service comes up (health 200), refuses recommendations
    and admin calls until the client app adds a key, then serves."""
    store = _store(tmp_path)
    gcp = settings.model_copy(update={"backend": Backend.GCP})
    serving = ServingSettings(version="v1", prediction_log=False, credentials_refresh_s=0.05)
    app = create_app(
        gcp, serving, source=BundleSource(models_store), credentials=Credentials.from_settings(serving, store)
    )
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert client.post("/recommend", json={"customer_id": "c1"}).status_code == 403
        assert client.post("/admin/rollback").status_code == 403
        store.put("serving-api-keys", "first-key-0123456789")
        headers = {"X-API-Key": "first-key-0123456789"}
        _wait_for(
            lambda: client.post("/recommend", json={"customer_id": "c1"}, headers=headers).status_code == 200,
            "the first key was never picked up",
        )


class FlakyStore:
    """The client's real store, whose reads can be made to fail like an unreachable backend."""

    def __init__(self, store: LocalSecretStore) -> None:
        self.store = store
        self.down = False

    def get(self, name: str) -> str:
        if self.down:
            raise ConnectionError("secret manager unreachable")
        return self.store.get(name)


def test_an_unreachable_secrets_backend_keeps_the_last_keys(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.put("serving-api-keys", "kept-key-0123456789")
    flaky = FlakyStore(store)
    secret = RefreshingSecret(flaky, "serving-api-keys", refresh_s=0.0)  # type: ignore[arg-type]
    flaky.down = True
    secret.reload()
    assert secret.value == "kept-key-0123456789"
    flaky.down = False
    store.delete("serving-api-keys")
    secret.reload()
    assert secret.value is None, "a deleted secret means no keys (fail closed on GCP)"
