"""The control plane on Google Cloud (``B2BREC_BACKEND=gcp``), tested by what it sends: the provisioner
the backends seam picks is Terraform, run against a recording ``terraform`` executable (argv, folder,
environment; it plans the synthesized stack it runs in and prints the plan in terraform's JSON format);
billing queries go to a local HTTP server speaking BigQuery's REST API (``jobs.query``).

Nothing here reaches Google Cloud: the worker's tasks are run by the test (``run_task``), so the
queued state the pages show in between is observed too."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from google.auth.credentials import AnonymousCredentials
from pydantic import ValidationError

from b2brec.backends.factory import client_admin
from b2brec.billing_export import export_table
from b2brec.settings import Backend, Settings
from control_plane.billing import queries
from control_plane.billing.source import BigQueryBilling, LocalBilling, billing_source
from control_plane.errors import ControlPlaneError
from control_plane.settings import ControlPlaneSettings
from control_plane.worker import run_task
from provisioning.factory import provisioner_for
from provisioning.local import LocalProvisioner
from provisioning.templates import registry_for
from provisioning.terraform import TerraformProvisioner
from stacks.platform import load_platform
from stacks.synth import STACK_FILE, quiet_jsii
from tests.control_plane.conftest import build_app, make_login
from tests.core.bigquery_http import Answer, BigQueryRecorder, bigquery_server, recording_client
from tests.core.gcp_admin_http import GcpAdminRecorder, gcp_admin_server
from tests.etl.sourcedb import create_erp
from tests.provisioning.fake_terraform import OUTPUTS, calls, envs, fake_terraform

quiet_jsii()
TABLE = export_table("control-plane-prod", "billing_export", "01ABCD-23EF45-6789AB")
DEPLOYER = load_platform().terraform_sa


def gcp(settings: Settings, *allow_loopback: str) -> Settings:
    return settings.model_copy(
        update={
            "backend": Backend.GCP,
            "gcp_project": "control-plane-prod",
            "source_hosts_allowed": {c: ["127.0.0.1/32"] for c in allow_loopback},
        }
    )


def gcp_app(
    platform: Settings, tmp_path: Path, terraform: Path, overrides_extra: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[Flask, list[tuple[str, Any]]]:
    """The app as it runs on GCP, its provisioner built by the factory; tasks are queued, not run."""
    queued: list[tuple[str, Any]] = []
    app = build_app(
        platform,
        tmp_path,
        provisioner=None,
        enqueue=lambda name, arg: queued.append((name, arg)),
        overrides={
            "terraform": str(terraform),
            "stacks_dir": tmp_path / "stacks",
            "billing_export_table": TABLE,
            "terraform_impersonate": DEPLOYER,
            **(overrides_extra or {}),
        },
        **kwargs,
    )
    return app, queued


def test_the_backends_seam_picks_the_provisioner_and_the_billing_source(settings: Settings, tmp_path: Path) -> None:
    fake = fake_terraform(tmp_path / "bin")
    registry = registry_for(settings)
    local = provisioner_for(settings, registry=registry, stacks_dir=tmp_path / "stacks", terraform=str(fake))
    assert isinstance(local, LocalProvisioner)
    remote = provisioner_for(gcp(settings), registry=registry, stacks_dir=tmp_path / "stacks", terraform=str(fake))
    assert isinstance(remote, TerraformProvisioner) and remote.runner.binary == str(fake)
    assert remote.out_dir == tmp_path / "stacks"

    cp = ControlPlaneSettings(billing_export_table=TABLE)
    assert isinstance(billing_source(cp, settings), LocalBilling)
    source = billing_source(cp, gcp(settings))
    assert isinstance(source, BigQueryBilling) and source.table == TABLE
    assert source.warehouse.project == "control-plane-prod"  # type: ignore[attr-defined]
    with pytest.raises(ControlPlaneError, match="B2BREC_CP_BILLING_EXPORT_TABLE is unset") as unset:
        billing_source(ControlPlaneSettings(), gcp(settings))
    assert "gcp_billing_export_v1_" in (unset.value.fix or "")


def test_the_app_acts_in_client_projects_as_the_deployer(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create job's secrets and first load use the app's ambient account impersonating the deployer."""
    import google.auth
    from google.auth import impersonated_credentials

    from control_plane.runtime import runtime
    from tests.control_plane.fleet import fleet_specs

    monkeypatch.setattr(google.auth, "default", lambda scopes=None: (AnonymousCredentials(), "control-plane-prod"))
    platform = gcp(settings)
    app, _ = gcp_app(platform, tmp_path, fake_terraform(tmp_path / "bin"))
    (spec,) = fleet_specs(platform, 1, version="1.0.0")
    with app.app_context():
        admin = runtime().client_admin(spec)
    credentials = admin.secrets.client._transport._credentials  # type: ignore[attr-defined]
    assert isinstance(credentials, impersonated_credentials.Credentials)
    assert credentials._target_principal == DEPLOYER
    assert admin.secrets.project == spec.project_id  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "bad",
    [
        "control-plane-prod.billing_export",  # two parts
        "control-plane-prod.billing_export.clients",  # not the export
        "control-plane-prod.billing_export.gcp_billing_export_v1_01ABCD_23EF45_6789AB`; DROP TABLE x; --",
        "control-plane-prod.billing export.gcp_billing_export_v1_01ABCD_23EF45_6789AB",
        "Control-Plane.billing_export.gcp_billing_export_v1_01ABCD_23EF45_6789AB",
        "a.b.c.gcp_billing_export_v1_01ABCD_23EF45_6789AB",
        "control-plane-prod.billing_export\n.gcp_billing_export_v1_01ABCD_23EF45_6789AB",
        "control-plane-prod.billing_export.gcp_billing_export_v1_01abcd_23ef45_6789ab",
    ],
)
def test_a_malformed_export_table_is_refused_with_the_format(bad: str) -> None:
    with pytest.raises(ValidationError, match=re.escape("PROJECT.DATASET.gcp_billing_export_v1_XXXXXX_XXXXXX_XXXXXX")):
        ControlPlaneSettings(billing_export_table=bad)
    with pytest.raises(ValueError, match="is not PROJECT.DATASET"):
        BigQueryBilling(warehouse=None, table=bad)  # type: ignore[arg-type]


def test_the_export_table_setting_is_trimmed_then_checked() -> None:
    assert ControlPlaneSettings(billing_export_table=f" {TABLE}\n").billing_export_table == TABLE
    with pytest.raises(ValueError, match="is not PROJECT.DATASET"):
        BigQueryBilling(warehouse=None, table=f"{TABLE}\n")  # type: ignore[arg-type]


# --- onboarding: review shows the Terraform plan; provisioning applies the stack --------------------
def _mapping_form(mapping: dict[str, Any]) -> dict[str, str]:
    form = {}
    for table, spec in mapping.items():
        form[f"{table}.table"] = spec["table"]
        form.update({f"{table}.{column}": source for column, source in spec["columns"].items()})
    return form


@pytest.mark.services
def test_onboarding_reviews_the_terraform_plan_then_applies_it(
    settings: Settings, tmp_path: Path, postgres_url: str
) -> None:
    from tests.control_plane.test_onboarding import _source_fields, _start

    create_erp(postgres_url, customers=10, products=8, sales=50)
    bin_dir = tmp_path / "bin"
    platform = gcp(settings, "acme-foods")
    google = GcpAdminRecorder(secrets={"client-acme-foods-dev/erp-password": []})  # the stack made the container
    # the create job's secrets and first load reach the client's project through the real Google clients
    recorded = lambda spec: client_admin(  # noqa: E731
        spec, platform, credentials=AnonymousCredentials(), endpoint=google.url, poll_seconds=0.01
    )
    app, queued = gcp_app(platform, tmp_path, fake_terraform(bin_dir), client_admin=recorded)
    op = make_login(app)("operator")
    draft = _start(op)
    assert op.post(f"/api/onboarding/{draft}/source", json=_source_fields(postgres_url)).status_code == 200
    tested = op.post(f"/api/onboarding/{draft}/test", json={}).get_json()["data"]
    assert all(c["ok"] for c in tested["checks"]), tested["checks"]
    r = op.post(f"/api/onboarding/{draft}/mapping", json=_mapping_form(tested["draft"]["data"]["mapping"]))
    assert r.status_code == 200 and r.get_json()["data"]["next_step"] == "review", r.get_json()
    assert queued == [("control_plane.plan", draft)]  # the plan is a worker job: it takes minutes
    assert calls(bin_dir) == []

    page = op.get(f"/onboarding/{draft}/review").get_data(as_text=True)
    assert 'data-reload="2000"' in page and 'id="plan-status">queued' in page
    assert 'id="provision"' not in page
    early = op.post(f"/api/onboarding/{draft}/provision", json={})
    assert early.status_code == 400 and "still running" in early.get_json()["message"]

    run_task(app, "control_plane.plan", draft)  # what the worker does with the message

    workdir = tmp_path / "stacks" / "acme-foods-dev"
    assert calls(bin_dir) == [
        f"{workdir}|init -input=false",
        f"{workdir}|plan -input=false -lock-timeout=5m -out=tfplan",
        f"{workdir}|show -json tfplan",
    ]
    assert [env.get("TF_IN_AUTOMATION") for env in envs(bin_dir)] == ["1", "1", "1"]
    # terraform acts as the platform's deployer (the provider and the GCS state backend read this)
    assert {env.get("GOOGLE_IMPERSONATE_SERVICE_ACCOUNT") for env in envs(bin_dir)} == {DEPLOYER}
    stack = json.loads((workdir / STACK_FILE).read_text())
    assert stack["terraform"]["backend"]["gcs"] == {
        "bucket": load_platform().state_bucket,
        "prefix": "stacks/acme-foods-dev",
    }
    project = next(iter(stack["resource"]["google_project"].values()))
    assert project["project_id"] == "client-acme-foods-dev"
    assert project["labels"]["client_id"] == "acme-foods" and project["labels"]["template_version"] == "1_0_0"
    per_type = Counter({rtype: len(items) for rtype, items in stack["resource"].items()})

    plan = op.get(f"/api/onboarding/{draft}").get_json()["data"]["draft"]["data"]["plan"]
    assert plan["status"] == "succeeded" and plan["step"] == "done"
    assert plan["summary"]["add"] == sum(per_type.values()) and plan["summary"]["destroy"] == 0
    assert plan["summary"]["by_type"] == {rtype: {"create": n} for rtype, n in sorted(per_type.items())}
    page = html.unescape(op.get(f"/onboarding/{draft}/review").get_data(as_text=True))
    assert 'data-reload="0"' in page
    assert f'id="plan-add">{sum(per_type.values())}<' in page and 'id="plan-destroy">0<' in page
    assert "client_id: acme-foods" in page  # the ClientSpec beside the plan
    for rtype, n in per_type.items():
        assert f"<tr><td>{rtype}</td><td>{n}</td>" in page
    assert 'id="provision"' in page

    r = op.post(f"/api/onboarding/{draft}/provision", json={})
    assert r.status_code == 200, r.get_json()
    job_id = r.get_json()["data"]["job_id"]
    assert queued[-1] == ("control_plane.provision", job_id)
    (bin_dir / "argv.log").unlink()
    with gcp_admin_server(google):
        run_task(app, "control_plane.provision", job_id)
    assert calls(bin_dir)[:4] == [
        f"{workdir}|init -input=false",
        f"{workdir}|plan -input=false -lock-timeout=5m -out=tfplan",
        f"{workdir}|apply -input=false -lock-timeout=5m tfplan",
        f"{workdir}|output -json",
    ]
    job = op.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]
    assert job["steps_done"][:1] == ["provision"]
    log = job["log"]
    assert "provisioned client-acme-foods-dev on template 1.0.0" in log
    # terraform's own lines stream into the job's log (the job page polls it), before the step's summary
    assert log.index("$ terraform apply -input=false -lock-timeout=5m tfplan") < log.index("Apply complete!")
    assert log.index("Apply complete!") < log.index("provisioned client-acme-foods-dev")
    client = op.get("/api/clients/acme-foods").get_json()["data"]["client"]
    assert client["urls"] == {
        "client_app": OUTPUTS["client_app_url"]["value"],
        "serving": OUTPUTS["serving_url"]["value"],
    }
    assert json.loads((workdir / "applied.json").read_text())["version"] == "1.0.0"

    # secrets: the draft's password reaches the client project's Secret Manager (and leaves the control plane's)
    assert job["status"] == "succeeded" and job["steps_done"] == ["provision", "secrets", "first_etl", "activate"]
    assert google.secrets == {"client-acme-foods-dev/erp-password": [_source_fields(postgres_url)["password"]]}
    assert "stored the source password as secret erp-password of client-acme-foods-dev" in log
    with app.app_context():
        from control_plane.runtime import runtime

        assert not runtime().secrets.exists(f"onboarding-{draft}-erp-password")
    # first_etl: one execution of the client's Cloud Run etl job, polled until it succeeded
    etl_job = "projects/client-acme-foods-dev/locations/europe-west1/jobs/etl"
    assert [c for c in google.calls() if "/v2/" in c] == [f"POST /v2/{etl_job}:run"] + [
        f"GET /v2/{etl_job}/executions/etl-x1"
    ] * google.polls_to_finish
    assert f"started execution etl-x1 of {etl_job}" in log
    assert f"first ETL load done: execution etl-x1 of {etl_job} succeeded" in log
    assert client["status"] == "active"


def test_a_failed_plan_shows_its_error_and_the_log(settings: Settings, tmp_path: Path) -> None:
    from control_plane.onboarding import services
    from control_plane.onboarding.models import OnboardingDraft
    from control_plane.runtime import runtime

    bin_dir = tmp_path / "bin"
    app, _ = gcp_app(gcp(settings), tmp_path, fake_terraform(bin_dir, fail_on="plan"))
    assert (
        make_login(app)("admin").post("/api/templates", json={"version": "1.0.0", "release": True}).status_code == 201
    )
    with app.app_context():
        draft = OnboardingDraft(
            operator="op@b2brec.test",
            step="review",
            data={
                "company": {"name": "Acme Foods", "client_id": "acme-foods", "env": "dev"},
                "region": {"region": "europe-west1", "budget": 250, "currency": "EUR"},
                "source": {"kind": "postgresql", "host": "db.example.com", "database": "erp", "username": "etl"},
                "checks": [{"target": "connection", "ok": True, "detail": "", "fix": ""}],
            },
        )
        from control_plane.extensions import db

        db.session.add(draft)
        db.session.commit()
        draft_id = draft.id
        services.queue_plan(draft, runtime().provisioner, version="1.0.0", actor="op@b2brec.test")
    run_task(app, "control_plane.plan", draft_id)
    op = make_login(app)("operator")
    plan = op.get(f"/api/onboarding/{draft_id}").get_json()["data"]["draft"]["data"]["plan"]
    assert plan["status"] == "failed"
    assert re.search(r"terraform plan failed \(exit 1\).*: /.*acme-foods-dev-plan-.*\.log$", plan["error"])
    assert "403" in Path(plan["error"].rsplit(": ", 1)[1]).read_text()
    page = op.get(f"/onboarding/{draft_id}/review").get_data(as_text=True)
    assert "Plan failed: terraform plan failed" in page and 'id="replan"' in page and 'id="provision"' not in page
    r = op.post(f"/api/onboarding/{draft_id}/provision", json={})
    assert r.status_code == 400 and "missing or stale" in r.get_json()["message"]


# --- template versions on GCP: a job per client runs terraform in that client's stack ---------------
def test_moving_a_client_to_a_version_applies_its_stack(settings: Settings, tmp_path: Path) -> None:
    from control_plane.clients import services as clients
    from tests.control_plane.fleet import fleet_specs

    bin_dir = tmp_path / "bin"
    platform = gcp(settings)
    app, queued = gcp_app(platform, tmp_path, fake_terraform(bin_dir, existing=("google_cloud_run_v2_service",)))
    admin = make_login(app)("admin")
    for version in ("1.0.0", "1.1.0"):
        r = admin.post("/api/templates", json={"version": version, "release": True})
        assert r.status_code == 201, r.get_json()
    (spec,) = fleet_specs(platform, 1, version="1.0.0")
    with app.app_context():
        clients.register_existing(spec)
    op = make_login(app)("operator")
    r = op.post(f"/api/clients/{spec.client_id}/rollback", json={"version": "1.1.0"})
    assert r.status_code == 202, r.get_json()
    job_id = r.get_json()["data"]["job"]["id"]
    assert queued == [("control_plane.provision", job_id)]
    run_task(app, "control_plane.provision", job_id)

    workdir = tmp_path / "stacks" / f"{spec.sanitized_name}-{spec.env}"
    assert calls(bin_dir) == [
        f"{workdir}|init -input=false",
        f"{workdir}|plan -input=false -lock-timeout=5m -out=tfplan",
        f"{workdir}|apply -input=false -lock-timeout=5m tfplan",
        f"{workdir}|output -json",
    ]
    stack = json.loads((workdir / STACK_FILE).read_text())
    assert next(iter(stack["resource"]["google_project"].values()))["labels"]["template_version"] == "1_1_0"
    job = op.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]
    assert job["status"] == "succeeded", job
    stack_types = json.loads((workdir / STACK_FILE).read_text())["resource"]
    changed = len(stack_types["google_cloud_run_v2_service"])
    added = sum(len(items) for items in stack_types.values()) - changed
    assert f"{OUTPUTS['project_id']['value']}: template None -> 1.1.0; {added} added, {changed} changed" in job["log"]
    assert "Plan: " in job["log"] and "to change" in job["log"]  # terraform's plan, kept in the job's log
    client = op.get(f"/api/clients/{spec.client_id}").get_json()["data"]["client"]
    assert client["template_version"] == "1.1.0"


# --- billing reads the Cloud Billing export in BigQuery ---------------------------------------------
MONTH = "202611"
PER_CLIENT = [
    {"client_id": "acme-foods", "project_id": "client-acme-foods-prod", "cost": 812.4, "currency": "EUR"},
    {"client_id": "bolt-tools", "project_id": "client-bolt-tools-prod", "cost": 95.1, "currency": "EUR"},
]
PER_SERVICE = [{"service": "Vertex AI", "cost": 610.0}, {"service": "Cloud Run", "cost": 297.5}]
DAILY = [{"day": date(2026, 11, 1), "cost": 400.25}, {"day": date(2026, 11, 2), "cost": 507.25}]


def _export_answers(source: BigQueryBilling) -> dict[str, Answer]:
    """Rows per exact query: a query the app sends that is not here is a test failure (HTTP 400)."""
    return {
        source.sql(queries.MONTH_TOTAL): ([("cost", "FLOAT")], [{"cost": 907.5}]),
        source.sql(queries.MONTH_BY_CLIENT): (
            [("client_id", "STRING"), ("project_id", "STRING"), ("cost", "FLOAT"), ("currency", "STRING")],
            PER_CLIENT,
        ),
        source.sql(queries.MONTH_BY_SERVICE): ([("service", "STRING"), ("cost", "FLOAT")], PER_SERVICE),
        source.sql(queries.DAILY): ([("day", "DATE"), ("cost", "FLOAT")], DAILY),
        source.sql(queries.DAILY_BY_CLIENT): ([("client_id", "STRING"), ("day", "DATE"), ("cost", "FLOAT")], []),
    }


def test_billing_reads_the_bigquery_export(settings: Settings, tmp_path: Path) -> None:
    from google.cloud.bigquery import Client

    from b2brec.backends.warehouse import BigQueryWarehouse

    answers: dict[str, Answer] = {}
    recorder = BigQueryRecorder(lambda sql, params: answers[sql])
    with bigquery_server(recorder):
        client: Client = recording_client(recorder, "control-plane-prod")
        source = BigQueryBilling(BigQueryWarehouse("control-plane-prod", "EU", client=client), TABLE)
        answers.update(_export_answers(source))
        app, _ = gcp_app(gcp(settings), tmp_path, fake_terraform(tmp_path / "bin"), billing=source)
        viewer = make_login(app)("viewer")
        body = viewer.get(f"/api/billing/month?month={MONTH}").get_json()
        page = viewer.get(f"/billing/?month={MONTH}").get_data(as_text=True)
        meter = make_login(app)("operator").post("/api/billing/meter").get_json()

    assert body["status"] == "success", body
    data = body["data"]
    assert data["total"] == 907.5
    assert data["per_client"] == PER_CLIENT and data["per_service"] == PER_SERVICE
    assert data["daily"] == [{"day": "2026-11-01", "cost": 400.25}, {"day": "2026-11-02", "cost": 507.25}]
    assert 'id="month-total">907.50<' in page
    assert 'data-client="acme-foods"' in page and '<td class="cost">812.40</td>' in page
    assert 'id="meter"' not in page  # Cloud Billing writes this export; nothing is metered on GCP
    assert meter["data"]["added"] == {"jobs": 0, "daily": 0}

    sent = recorder.queries()
    assert {s.path for s in sent} == {"/bigquery/v2/projects/control-plane-prod/queries"}
    first = sent[0]
    assert first.body["query"] == source.sql(queries.MONTH_TOTAL)
    assert f"FROM `{TABLE}`" in first.body["query"] and "invoice.month = @month" in first.body["query"]
    assert "UNNEST(credits)" in first.body["query"]  # BigQuery SQL as written, not DuckDB's list functions
    assert first.body["useLegacySql"] is False and first.body["location"] == "EU"
    assert first.params == {"month": MONTH} and first.param_types == {"month": "STRING"}
    by_client = [s for s in sent if s.body["query"] == source.sql(queries.MONTH_BY_SERVICE)]
    assert by_client and by_client[0].params == {"month": MONTH, "client": ""}
    assert all(s.body["query"] in answers for s in sent)


def test_a_rollout_applies_each_clients_stack_wave_by_wave(settings: Settings, tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from control_plane.clients import services as clients
    from control_plane.rollouts.services import tick_all
    from control_plane.runtime import runtime
    from tests.control_plane.fleet import fleet_specs

    class Serving(BaseHTTPRequestHandler):  # each client's serving answers healthy: the gate passes
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            body = b'{"status": "ok"}' if self.path.endswith("/health") else b""
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    bin_dir = tmp_path / "bin"
    platform = gcp(settings)
    app, queued = gcp_app(platform, tmp_path, fake_terraform(bin_dir), overrides_extra={"soak_seconds": 0.0})
    admin = make_login(app)("admin")
    for version in ("1.0.0", "1.1.0"):
        assert admin.post("/api/templates", json={"version": version, "release": True}).status_code == 201
    specs = fleet_specs(platform, 3, version="1.0.0")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Serving)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with app.app_context():
            for spec in specs:
                clients.register_existing(spec, urls={"serving": f"http://127.0.0.1:{server.server_address[1]}"})
        op = make_login(app)("operator")
        r = op.post("/api/rollouts", json={"version": "1.1.0"})
        assert r.status_code == 201, r.get_json()
        rollout_id = r.get_json()["data"]["rollout"]["id"]
        with app.app_context():
            tick_all(runtime())
        # the canary's apply is a provisioning job of its own, queued to the worker; the gate waits for it
        data = op.get(f"/api/rollouts/{rollout_id}").get_json()["data"]
        (canary_target,) = [t for t in data["targets"] if t["wave"] == 0]
        assert data["rollout"]["status"] == "running" and canary_target["status"] == "applying"
        assert queued == [("control_plane.provision", canary_target["job_id"])] and calls(bin_dir) == []
        with app.app_context():
            tick_all(runtime())
        assert op.get(f"/api/rollouts/{rollout_id}").get_json()["data"]["rollout"]["status"] == "running"
        ran = 0
        for _ in range(20):
            for name, job_id in queued[ran:]:  # what the worker does with each queued job
                run_task(app, name, job_id)
            ran = len(queued)
            with app.app_context():
                tick_all(runtime())
            data = op.get(f"/api/rollouts/{rollout_id}").get_json()["data"]
            if data["rollout"]["status"] in ("completed", "halted"):
                break
    finally:
        server.shutdown()
        server.server_close()
    assert data["rollout"]["status"] == "completed", data
    assert data["rollout"]["waves"] == 2  # canary ceil(0.3) = 1, then the other two
    applies = [
        line.split("|") for line in calls(bin_dir) if line.endswith("|apply -input=false -lock-timeout=5m tfplan")
    ]
    folders = [Path(cwd).name for cwd, _ in applies]
    assert sorted(folders) == sorted(f"{s.sanitized_name}-{s.env}" for s in specs)  # one apply per client
    canary = next(s for s in specs if s.client_id in {t["client_id"] for t in data["targets"] if t["wave"] == 0})
    assert folders[0] == f"{canary.sanitized_name}-{canary.env}"  # the canary's stack is applied first
    for spec in specs:
        stack = json.loads((tmp_path / "stacks" / f"{spec.sanitized_name}-{spec.env}" / STACK_FILE).read_text())
        assert next(iter(stack["resource"]["google_project"].values()))["labels"]["template_version"] == "1_1_0"
    for spec in specs:  # (the clients list would also read the month's costs from BigQuery)
        assert op.get(f"/api/clients/{spec.client_id}").get_json()["data"]["client"]["template_version"] == "1.1.0"
    # one apply_version job per client, its terraform log kept on the job; the rollout page links each
    job_ids = {t["client_id"]: t["job_id"] for t in data["targets"]}
    assert sorted(job_ids) == sorted(s.client_id for s in specs) and len(set(job_ids.values())) == len(specs)
    assert [job_id for _, job_id in queued] == [job_ids[canary.client_id]] + sorted(
        job_ids[s.client_id] for s in specs if s is not canary
    )
    page = op.get(f"/rollouts/{rollout_id}").get_data(as_text=True)
    for client_id, job_id in job_ids.items():
        job = op.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]
        assert (job["kind"], job["version"], job["status"], job["client_id"]) == (
            "apply_version",
            "1.1.0",
            "succeeded",
            client_id,
        )
        assert "$ terraform apply -input=false -lock-timeout=5m tfplan" in job["log"]
        assert f'href="/jobs/{job_id}"' in page
