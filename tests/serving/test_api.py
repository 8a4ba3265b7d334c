"""The API end to end through the ASGI app, on a tiny bundle loaded from a real object store."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from b2brec.backends.storage import ObjectStore
from b2brec.bundle import BundleError, read_bundle
from b2brec.settings import Backend, Settings
from serving.app import create_app
from serving.config import ServingSettings
from serving.model.loader import BundleSource


def test_liveness_and_readiness(client: TestClient) -> None:
    assert client.get("/health/live").json()["status"] == "success"
    body = client.get("/health").json()
    assert body == {"status": "success", "message": "ready", "data": {"ready": True, "model_version": "v1"}}


def test_not_ready_without_model_but_alive(settings: Settings, tmp_path) -> None:
    empty = BundleSource(ObjectStore((tmp_path / "empty").as_uri()))
    with TestClient(create_app(settings, ServingSettings(), source=empty)) as client:
        assert client.get("/health/live").status_code == 200
        response = client.get("/health")
        assert response.status_code == 503 and response.json()["status"] == "error"
        recommend = client.post("/recommend", json={"customer_id": "c1"})
        assert recommend.status_code == 503
        assert "deploy" in recommend.json()["message"]


def test_recommend_known_customer_matches_the_model(client: TestClient, models_store: ObjectStore) -> None:
    response = client.post("/recommend", json={"customer_id": "c3", "k": 5})
    assert response.status_code == 200
    body = response.json()
    data = body["data"]
    assert body["status"] == "success" and data["model_version"] == "v1" and len(data["recommendation_id"]) == 32
    assert data["fallback"] is False and [i["rank"] for i in data["items"]] == [1, 2, 3, 4, 5]
    # Expected: the 5 largest dot products of customer row 3 with every product of bundle v1.
    bundle = read_bundle(models_store, "v1")
    scores = bundle.candidate_embeddings @ bundle.customer_embeddings[3]
    expected = [f"p{i}" for i in np.argsort(-scores)[:5]]
    assert [item["product_id"] for item in data["items"]] == expected
    np.testing.assert_allclose([i["score"] for i in data["items"]], np.sort(scores)[::-1][:5], rtol=1e-5)


def test_unknown_customer_gets_marked_fallback(client: TestClient) -> None:
    by_city = client.post("/recommend", json={"customer_id": "new-1", "city": "Hamburg", "k": 3}).json()["data"]
    assert by_city["fallback"] is True and "city" in by_city["fallback_reason"] and len(by_city["items"]) == 3
    overall = client.post("/recommend", json={"customer_id": "new-2", "k": 3}).json()["data"]
    assert overall["fallback"] is True and "overall" in overall["fallback_reason"]
    assert [i["product_id"] for i in by_city["items"]] != [i["product_id"] for i in overall["items"]]
    unknown_city = client.post("/recommend", json={"customer_id": "new-3", "city": "Atlantis"}).json()["data"]
    assert "overall" in unknown_city["fallback_reason"]


def test_filters(client: TestClient, models_store: ObjectStore) -> None:
    bundle = read_bundle(models_store, "v1")
    products, purchases = bundle.products.to_pylist(), bundle.purchases.to_pylist()
    categories = {p["product_id"]: p["category"] for p in products}
    bought = {p["product_id"] for p in purchases if p["customer_id"] == "c5"}
    filters = {"include_categories": ["tools", "paint"], "exclude_purchased": True}
    body = {"customer_id": "c5", "k": 50, "filters": filters}
    items = client.post("/recommend", json=body).json()["data"]["items"]
    assert len(items) == 50
    assert {categories[i["product_id"]] for i in items} <= {"tools", "paint"}
    assert not bought & {i["product_id"] for i in items}
    excluded = client.post(
        "/recommend", json={"customer_id": "new", "filters": {"exclude_subcategories": ["tools-0"]}}
    ).json()["data"]["items"]
    assert all(i["subcategory"] != "tools-0" for i in excluded)


def test_batch(client: TestClient) -> None:
    ids = [f"c{i}" for i in range(100)] + ["stranger"]
    response = client.post("/recommend-batch", json={"customer_ids": ids, "k": 4, "cities": {"stranger": "Munich"}})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["model_version"] == "v1" and [r["customer_id"] for r in data["results"]] == ids
    assert len({r["recommendation_id"] for r in data["results"]}) == len(ids)
    assert data["results"][-1]["fallback"] is True and all(not r["fallback"] for r in data["results"][:-1])
    single = client.post("/recommend", json={"customer_id": "c7", "k": 4}).json()["data"]["items"]
    # Same products as a single request; scores equal up to float32 rounding (matrix vs vector product).
    assert [i["product_id"] for i in data["results"][7]["items"]] == [i["product_id"] for i in single]
    np.testing.assert_allclose([i["score"] for i in data["results"][7]["items"]], [i["score"] for i in single], 1e-5)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"customer_ids": [f"c{i}" for i in range(1001)]}, "at most 1000"),
        ({"customer_ids": []}, "at least 1"),
        ({"customer_ids": ["c1", "c2", "c1"]}, "duplicates ['c1']"),
        ({"customer_ids": ["c1"], "k": 100000}, "k: Input should be less than or equal to 100"),
        ({"customer_ids": ["c1"], "filters": {"bogus": 1}}, "filters.bogus"),
    ],
)
def test_batch_validation_messages(client: TestClient, body: dict, fragment: str) -> None:
    response = client.post("/recommend-batch", json=body)
    assert response.status_code == 422
    assert response.json()["status"] == "error" and fragment in response.json()["message"]


def test_malformed_json_is_a_clear_422(client: TestClient) -> None:
    response = client.post("/recommend", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["message"]


def test_model_info_and_metrics(client: TestClient) -> None:
    info = client.get("/model-info").json()["data"]
    assert info["model_version"] == "v1" and info["index"]["kind"] == "exact" and info["index"]["recall_at_100"] == 1
    assert info["data_window"] == {"start": "2025-01-01", "end": "2025-12-31"} and info["embedding_dim"] == 64
    client.post("/recommend", json={"customer_id": "c1"})
    client.post("/recommend", json={"customer_id": "c1", "k": 0})
    text = client.get("/metrics").text
    assert 'b2brec_serving_requests_total{endpoint="/recommend",outcome="success"} 1.0' in text
    assert 'b2brec_serving_requests_total{endpoint="/recommend",outcome="client_error"} 1.0' in text
    assert 'b2brec_serving_model_info{index="exact",trained_at="2026-01-01T00:00:00+00:00",version="v1"}' in text
    assert "b2brec_serving_request_seconds_bucket" in text and "b2brec_serving_index_recall_at_100 1.0" in text


def test_deploy_and_rollback(client: TestClient) -> None:
    deployed = client.post("/admin/deploy", json={"version": "v2"}).json()
    assert deployed["data"]["model_version"] == "v2" and deployed["data"]["previous_version"] == "v1"
    assert client.post("/recommend", json={"customer_id": "c1"}).json()["data"]["model_version"] == "v2"
    rolled = client.post("/admin/rollback").json()["data"]
    assert rolled["model_version"] == "v1" and rolled["previous_version"] == "v2"
    missing = client.post("/admin/deploy", json={"version": "v9"})
    assert missing.status_code == 404 and "v9" in missing.json()["message"]
    versions = client.get("/admin/versions").json()["data"]
    history = [(d["action"], d["previous"], d["version"], d["actor"]) for d in versions.pop("history")]
    assert versions == {"current": "v1", "previous": "v2", "available": ["v1", "v2"], "live": "v1"}
    assert history == [
        ("deploy", None, "v1", "serving-startup"),  # the first instance records what it started on
        ("deploy", "v1", "v2", "admin-api"),
        ("rollback", "v2", "v1", "admin-api"),
    ]


@pytest.mark.parametrize("version", ["..", ".", "v1/../v2", "a..b", ".hidden", "v1/"])
def test_deploy_rejects_path_like_versions(client: TestClient, version: str) -> None:
    response = client.post("/admin/deploy", json={"version": version})
    assert response.status_code == 422, response.text
    assert "version" in response.json()["message"]
    assert client.get("/admin/versions").json()["data"]["current"] == "v1"


def test_admin_token(settings: Settings, models_store: ObjectStore) -> None:
    serving = ServingSettings(version="v1", admin_token="s3cret-admin-token-0123")
    with TestClient(create_app(settings, serving, source=BundleSource(models_store))) as client:
        assert client.post("/admin/rollback").status_code == 401
        ok = client.post(
            "/admin/deploy", json={"version": "v2"}, headers={"Authorization": "Bearer s3cret-admin-token-0123"}
        )
        assert ok.status_code == 200
    gcp = settings.model_copy(update={"backend": Backend.GCP})
    with TestClient(create_app(gcp, ServingSettings(version="v1"), source=BundleSource(models_store))) as client:
        response = client.post("/admin/rollback")
        assert response.status_code == 403 and "B2BREC_SERVING_ADMIN_TOKEN" in response.json()["message"]


def test_bundle_reader_refuses_version_ids_that_escape_the_bucket(models_store: ObjectStore) -> None:
    with pytest.raises(BundleError, match="not a version id"):
        read_bundle(models_store, "..")
    assert read_bundle(models_store, "v1").manifest.version == "v1"
