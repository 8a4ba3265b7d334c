"""Onboarding through the JSON API against a real PostgreSQL source, with the app itself on
a real PostgreSQL database: the client project exists, its secret is stored, its ETL ran."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from flask import Flask

from b2brec.projects.local import open_project
from b2brec.settings import Settings
from tests.control_plane.conftest import build_app, make_login
from tests.etl.sourcedb import create_erp
from tests.security.corpus import SECRET_LIKE

pytestmark = pytest.mark.services


def _source_fields(url: str, **overrides: str) -> dict[str, str]:
    parsed = sa.make_url(url)
    fields = {
        "kind": "postgresql",
        "host": parsed.host or "127.0.0.1",
        "port": str(parsed.port or 5432),
        "database": parsed.database or "",
        "username": parsed.username or "postgres",
        "password": "s3cret-not-shown",
    }
    fields.update(overrides)
    return fields


def _start(client, name: str = "Acme Foods") -> int:
    draft = client.post("/api/onboarding").get_json()["data"]["draft"]["id"]
    r = client.post(f"/api/onboarding/{draft}/company", json={"name": name, "env": "dev"})
    assert r.status_code == 200, r.get_json()
    r = client.post(
        f"/api/onboarding/{draft}/region", json={"region": "europe-west1", "budget": "250", "currency": "EUR"}
    )
    assert r.status_code == 200, r.get_json()
    return int(draft)


def test_onboard_postgres_source_end_to_end(pg_app: Flask, postgres_url: str, settings: Settings) -> None:
    create_erp(postgres_url, customers=30, products=20, sales=400)
    op = make_login(pg_app)("operator")
    draft = _start(op)
    r = op.post(f"/api/onboarding/{draft}/source", json=_source_fields(postgres_url))
    assert r.status_code == 200, r.get_json()
    assert "s3cret-not-shown" not in r.get_data(as_text=True)
    r = op.post(f"/api/onboarding/{draft}/test", json={})
    body = r.get_json()["data"]
    assert {c["target"] for c in body["checks"]} == {"connection", "customers", "products", "transactions"}
    assert all(c["ok"] for c in body["checks"]), body["checks"]
    mapping = body["draft"]["data"]["mapping"]
    # proposed from the introspected schema (tests/etl/sourcedb.py's ERP)
    assert mapping["transactions"]["table"] == "sales"
    assert mapping["transactions"]["columns"]["revenue"] == "amount"
    assert mapping["products"]["columns"]["product_id"] == "sku"
    r = op.post(f"/api/onboarding/{draft}/provision", json={})
    assert r.status_code == 200, r.get_json()
    job_id = r.get_json()["data"]["job_id"]
    job = op.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]
    assert job["status"] == "succeeded", job
    assert job["steps_done"] == ["provision", "secrets", "first_etl", "activate"]
    assert "first ETL load done" in job["log"]
    client = op.get("/api/clients/acme-foods").get_json()["data"]
    assert client["client"]["status"] == "active"
    project = open_project("acme-foods", settings)
    # the password is the client's secret now, and the control plane no longer keeps it
    assert project.secrets().get("erp-password") == "s3cret-not-shown"
    assert "s3cret-not-shown" not in client["spec_yaml"]
    with duckdb.connect(str(project.warehouse_path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM raw_data.transactions").fetchone()[0] == 400
    assert client["details"]["last_etl"]["status"] != "failed"
    actions = [e["action"] for e in op.get("/api/audit").get_json()["data"]["entries"]]
    assert "client.onboard" in actions and "job.create" in actions


def test_wrong_password_gives_the_check_and_its_fix(pg_app: Flask, postgres_url: str) -> None:
    create_erp(postgres_url, customers=5, products=5, sales=10)
    op = make_login(pg_app)("operator")
    draft = _start(op, "Bad Password Co")
    # the machine's PostgreSQL trusts local connections, so a wrong *database* is what fails here
    op.post(f"/api/onboarding/{draft}/source", json=_source_fields(postgres_url, database="no_such_db_x"))
    checks = op.post(f"/api/onboarding/{draft}/test", json={}).get_json()["data"]["checks"]
    assert checks[0]["target"] == "connection" and not checks[0]["ok"]
    assert checks[0]["fix"] == "correct the database name in the source step"
    r = op.post(f"/api/onboarding/{draft}/provision", json={})
    assert r.status_code == 400 and r.get_json()["data"]["code"] == "invalid_input"


def test_hostile_hosts_are_refused_and_nothing_is_saved(
    settings: Settings, tmp_path: Path, hostile_hosts: list[str]
) -> None:
    app = build_app(settings, tmp_path)  # no operator allow-list: public addresses only
    op = make_login(app)("operator")
    draft = _start(op, "Hostile Input Co")
    for host in hostile_hosts:  # the shared corpus (tests/conftest.py)
        r = op.post(
            f"/api/onboarding/{draft}/source",
            json={"kind": "postgresql", "host": host, "database": "erp", "username": "u", "password": "pw-123"},
        )
        assert r.status_code in (400, 422), host
        body = r.get_json()
        assert body["data"]["code"] == "host_refused" and body["data"]["fix"], host
        if host in SECRET_LIKE:  # a password pasted into the host field never comes back
            assert host not in r.get_data(as_text=True), host
    data = op.get(f"/api/onboarding/{draft}").get_json()["data"]["draft"]
    assert "source" not in data["data"] and data["step"] == "source"
    with app.app_context():
        from control_plane.onboarding.services import password_secret_name
        from control_plane.runtime import runtime

        assert not runtime().secrets.exists(password_secret_name(draft))


def test_hostile_text_fields_are_refused(app: Flask) -> None:
    op = make_login(app)("operator")
    draft = op.post("/api/onboarding").get_json()["data"]["draft"]["id"]
    for name in ("", "<script>alert(1)</script>", "x" * 500, "a\nb", "Robert'); DROP TABLE clients;--"):
        r = op.post(f"/api/onboarding/{draft}/company", json={"name": name, "env": "dev"})
        assert r.status_code == 400, name
    r = op.post(f"/api/onboarding/{draft}/company", json={"name": "Fine Co", "env": "qa"})
    assert r.status_code == 400 and "dev" in r.get_json()["data"]["fix"]
    assert op.get("/api/clients").get_json()["data"]["clients"] == []
