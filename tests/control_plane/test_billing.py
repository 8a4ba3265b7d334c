"""Billing: metering real local job runs and daily services into a table with the BigQuery
billing-export schema, BigQuery-dialect SQL run through sqlglot, checked against independent
DuckDB aggregates written by hand."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from flask import Flask

from b2brec.backends.jobs import JobSpec, MachineSpec, wait
from b2brec.projects.local import open_project
from b2brec.settings import Settings
from control_plane.billing import queries, services
from control_plane.billing.export import BillingExport, UsageRow
from control_plane.billing.pricing import DAILY_SERVICES_EUR, MACHINE_EUR_PER_HOUR
from control_plane.clients import services as clients
from control_plane.runtime import runtime
from tests.control_plane.conftest import make_login
from tests.control_plane.fleet import create_fleet, fleet_specs


@pytest.fixture
def metered(app: Flask, settings: Settings) -> Flask:
    specs = fleet_specs(settings, 2, version="1.0.0")
    create_fleet(settings, specs)
    project = open_project(specs[0].project_id, settings)
    runner = project.jobs()
    job_id = runner.submit(
        JobSpec(
            name="trainer",
            module="this",
            env={"B2BREC_RUN_ID": "run-42"},
            machine=MachineSpec(machine_type="n1-standard-8"),
        )
    )
    assert wait(runner, job_id, timeout=60).state.value == "succeeded"
    with app.app_context():
        for spec in specs:
            clients.register_existing(spec)
    op = make_login(app)("operator")
    r = op.post("/api/billing/meter")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["data"]["added"]["jobs"] == 1
    return app


def _independent_total(path: Path, month: str) -> float:
    """The month's net cost, straight from the export table in DuckDB SQL."""
    with duckdb.connect(str(path), read_only=True) as conn:
        row = conn.execute(
            "SELECT round(sum(cost + coalesce(list_sum(list_transform(credits, lambda c: c.amount)), 0)), 2) "
            "FROM billing_export WHERE invoice.month = ?",
            [month],
        ).fetchone()
    return float(row[0] or 0.0)


def test_month_totals_match_an_independent_aggregate(metered: Flask, settings: Settings) -> None:
    op = make_login(metered)("viewer")
    month = datetime.now(UTC).strftime("%Y%m")
    data = op.get(f"/api/billing/month?month={month}").get_json()["data"]
    with metered.app_context():
        path = runtime().billing_path
    assert data["total"] == pytest.approx(_independent_total(path, month), abs=0.01)
    assert sum(r["cost"] for r in data["per_client"]) == pytest.approx(data["total"], abs=0.02)
    # the projects were created today: one day of the six fixed services each
    per_day = sum(DAILY_SERVICES_EUR.values())
    by_client = {r["client_id"]: r["cost"] for r in data["per_client"]}
    assert by_client["fleet-001"] == pytest.approx(per_day, abs=0.02)
    assert "Vertex AI" in {r["service"] for r in data["per_service"]}  # fleet-000's training job


def test_job_priced_by_machine_type_and_duration(metered: Flask) -> None:
    op = make_login(metered)("viewer")
    runs = op.get("/api/billing/fleet-000/runs").get_json()["data"]["runs"]
    assert [r["run_id"] for r in runs] == ["run-42"]
    with metered.app_context():
        path = runtime().billing_path
    with duckdb.connect(str(path), read_only=True) as conn:
        seconds = conn.execute(
            "SELECT usage.amount FROM billing_export WHERE service.description = 'Vertex AI'"
        ).fetchone()[0]
    assert runs[0]["cost"] == pytest.approx(seconds / 3600 * MACHINE_EUR_PER_HOUR["n1-standard-8"], abs=1e-4)


def test_metering_twice_adds_nothing(metered: Flask) -> None:
    op = make_login(metered)("operator")
    assert op.post("/api/billing/meter").get_json()["data"]["added"] == {"jobs": 0, "daily": 0}


def test_statement_csv_applies_the_margin(metered: Flask) -> None:
    op = make_login(metered)("viewer")
    month = datetime.now(UTC).strftime("%Y%m")
    response = op.get(f"/billing/fleet-001/{month}?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    subtotal = float(next(r for r in rows if r[2] == "subtotal")[6])
    total = float(next(r for r in rows if r[2] == "total")[6])
    lines = sum(float(r[6]) for r in rows[1:] if r[2] not in ("subtotal", "total") and not r[2].startswith("margin"))
    assert subtotal == pytest.approx(lines, abs=0.01)
    assert total == pytest.approx(subtotal * 1.15, abs=0.01)
    html = op.get(f"/billing/fleet-001/{month}").get_data(as_text=True)
    assert f"{total:.2f}" in html


def test_anomaly_is_found_and_alerted(app: Flask, settings: Settings) -> None:
    today = datetime.now(UTC).date()
    rows = []
    for back in range(20, 0, -1):
        day = today - timedelta(days=back)
        cost = 40.0 if back == 1 else 8.0
        start = datetime.combine(day, datetime.min.time(), UTC)
        rows.append(
            UsageRow(
                billing_account_id="X",
                service="Vertex AI",
                sku="Custom training",
                start=start,
                end=start + timedelta(hours=1),
                project_id="client-spiky-dev",
                labels={"client_id": "spiky"},
                cost=cost,
                currency="EUR",
                usage_amount=1.0,
                usage_unit="hour",
            )
        )
    with app.app_context():
        rt = runtime()
        BillingExport(rt.billing_path).insert(rows, exported=datetime.now(UTC))
        found = services.anomalies(rt, factor=3.0, today=today)
        assert [(a["client_id"], a["day"]) for a in found] == [("spiky", today - timedelta(days=1))]
        assert found[0]["baseline"] == pytest.approx(8.0)
        assert services.raise_cost_alerts(rt, []) == 1
        assert services.raise_cost_alerts(rt, []) == 0  # raised once


def test_queries_are_bigquery_sql_transpiled_for_duckdb() -> None:
    sql = queries.MONTH_BY_CLIENT.format(table="billing_export")
    assert "UNNEST(labels)" in sql and "@month" in sql  # BigQuery dialect as written
    duck = queries.for_duckdb(queries.MONTH_BY_CLIENT)
    assert "$month" in duck and "@month" not in duck
    # the correlated UNNEST subqueries become DuckDB list functions (much faster there)
    assert "UNNEST" not in duck.upper() and "list_filter(labels" in duck


def test_bad_month_is_refused(app: Flask) -> None:
    op = make_login(app)("viewer")
    for month in ("2026-11", "202613", "x; DROP TABLE billing_export"):
        r = op.get(f"/api/billing/month?month={month}")
        assert r.status_code == 400 and r.get_json()["data"]["fix"]


def test_budget_forecast(app: Flask, settings: Settings) -> None:
    specs = fleet_specs(settings, 1, version="1.0.0")
    create_fleet(settings, specs)
    with app.app_context():
        client = clients.register_existing(specs[0])
        rt = runtime()
        services.meter_fleet(rt, [client])
        today = datetime.now(UTC).date()
        view = services.budgets(rt, [client], today=today)[client.client_id]
    import calendar

    days_in_month = calendar.monthrange(today.year, today.month)[1]
    assert view.forecast == pytest.approx(view.mtd / today.day * days_in_month)
    assert view.budget == 300.0
    assert date.today() >= today - timedelta(days=1)


def test_pipeline_run_jobs_are_priced_from_their_run_records(tmp_path: Path) -> None:
    """The rows trainer.runs.metered_jobs returns: a 30-minute n1-standard-8 trainer with one T4 on
    two replicas costs 0.5 h x 2 x (0.36 + 0.33) = 0.69 EUR, labelled with its run and stage."""
    from control_plane.billing.metering import MeteredClient, meter
    from control_plane.billing.pricing import PriceSheet

    job = {
        "client": "client-acme-dev", "run_id": "run-7", "stage": "trainer", "attempt": 1, "job_id": "trainer-abc",
        "state": "succeeded", "started_at": "2026-11-29T10:00:00+00:00", "ended_at": "2026-11-29T10:30:00+00:00",
        "seconds": 1800.0, "machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 1, "replica_count": 2,
    }  # fmt: skip
    client = MeteredClient(
        client_id="acme", project_id="client-acme-dev", region="europe-west1", since=date(2026, 11, 30),
        jobs_dir=None, labels={"client_id": "acme"}, run_jobs=(job,),
    )  # fmt: skip
    export = BillingExport(tmp_path / "billing.duckdb")
    assert meter(export, [client], PriceSheet(), today=date(2026, 11, 30)) == {"jobs": 1, "daily": 1}
    assert meter(export, [client], PriceSheet(), today=date(2026, 11, 30)) == {"jobs": 0, "daily": 0}
    with duckdb.connect(str(export.path), read_only=True) as conn:
        cost, labels = conn.execute(
            "SELECT cost, labels FROM billing_export WHERE service.description = 'Vertex AI'"
        ).fetchone()
    assert cost == pytest.approx(0.5 * 2 * (0.36 + 0.33))
    assert {"key": "run_id", "value": "run-7"} in labels and {"key": "stage", "value": "trainer"} in labels
