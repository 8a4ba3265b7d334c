"""Fleet health: the probe reads serving's real Prometheus output; a failed ETL load raises an
alert and puts the client first on the dashboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from prometheus_client import generate_latest

from b2brec.context import context_for_spec
from b2brec.errors import B2BRecError
from b2brec.etl import run_etl
from b2brec.settings import Settings
from control_plane.clients import services as clients
from control_plane.health.probe import _histogram_p99, _serving_counts
from serving.metrics import ServingMetrics
from tests.control_plane.conftest import make_login
from tests.control_plane.fleet import create_fleet, fleet_specs, stand_in_serving


def test_probe_reads_servings_own_metrics() -> None:
    metrics = ServingMetrics()
    # 98 fast requests (4 ms), 2 slow ones (200 ms): p99 falls in the 0.25 s bucket
    for _ in range(98):
        metrics.latency.labels("/recommend").observe(0.004)
    for _ in range(2):
        metrics.latency.labels("/recommend").observe(0.2)
    metrics.requests.labels("/recommend", "success").inc(97)
    metrics.requests.labels("/recommend", "client_error").inc(2)
    metrics.requests.labels("/recommend", "server_error").inc(1)
    metrics.recommendations.labels("model").inc(90)
    metrics.recommendations.labels("fallback").inc(10)
    text = generate_latest(metrics.registry).decode()
    requests, errors, fallbacks = _serving_counts(text)
    assert (requests, errors, fallbacks) == (100.0, 1.0, 10.0)
    assert _histogram_p99(text, "b2brec_serving_request_seconds") == pytest.approx(250.0)


def test_failed_etl_is_alerted_and_listed_first(app: Flask, settings: Settings, tmp_path: Path) -> None:
    specs = fleet_specs(settings, 2, version="1.0.0")
    create_fleet(settings, specs)
    # the demo mapping's SQLite source does not exist under this test's home: the load fails
    with pytest.raises(B2BRecError):
        run_etl(context_for_spec(specs[1], settings))
    with stand_in_serving(settings, broken=set()) as base, app.app_context():
        for spec in specs:
            clients.register_existing(spec, urls={"serving": f"{base}/c/{spec.project_id}"})
        op = make_login(app)("operator")
        results = {r["client_id"]: r for r in op.post("/api/health/poll").get_json()["data"]["results"]}
    assert results["fleet-001"]["checks"]["etl"]["ok"] is False
    assert results["fleet-001"]["checks"]["serving"]["ok"] is True
    alerts = op.get("/api/alerts").get_json()["data"]["alerts"]
    assert [a["client_id"] for a in alerts if a["kind"] == "etl_failed"] == ["fleet-001"]
    fleet = op.get("/api/health").get_json()["data"]["clients"]
    assert [c["client_id"] for c in fleet][0] in {"fleet-000", "fleet-001"}  # both lack a good ETL
    assert "etl_failed" in (tmp_path / "mail.mbox").read_text()


@pytest.mark.slow
def test_probe_reads_a_real_serving_process(app: Flask, settings: Settings) -> None:
    """The fleet poll against the serving API itself (``b2brec serve`` of a local client project with a
    model bundle, as the demo starts it), not a stand-in: health, template version and its own metrics."""
    import httpx

    from b2brec.bundle import write_bundle
    from b2brec.projects.local import open_project
    from cli.demo_serving import start_server, stop_previous
    from serving.synthetic import synthetic_bundle

    (spec,) = fleet_specs(settings, 1, version="1.0.0")
    create_fleet(settings, [spec])
    project = open_project(spec.project_id, settings)
    write_bundle(project.storage("models"), synthetic_bundle("v1", n_products=300, n_customers=50))
    process, url = start_server(project)
    try:
        for i in range(5):
            assert httpx.post(f"{url}/recommend", json={"customer_id": f"c{i}", "k": 5}).status_code == 200
        assert httpx.post(f"{url}/recommend", json={"customer_id": "c1", "k": 0}).status_code == 422
        with app.app_context():
            clients.register_existing(spec, urls={"serving": url})
        op = make_login(app)("operator")
        (result,) = op.post("/api/health/poll").get_json()["data"]["results"]
    finally:
        stop_previous(project)
        process.wait(timeout=30)
    assert result["client_id"] == spec.client_id
    assert result["checks"]["serving"] == {"ok": True, "detail": "HTTP 200"}
    assert result["checks"]["metrics"]["ok"] is True
    with app.app_context():
        import sqlalchemy as sa

        from control_plane.extensions import db
        from control_plane.health.models import HealthSample

        sample = db.session.scalars(sa.select(HealthSample).where(HealthSample.client_id == spec.client_id)).one()
        assert sample.predictions is not None and sample.predictions >= 6  # serving's own request counter
        assert sample.error_rate == 0.0  # a refused request (4xx) is the caller's error, not serving's
        assert sample.p99_ms is not None and sample.p99_ms > 0
