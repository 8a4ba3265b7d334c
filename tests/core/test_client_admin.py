"""The client-admin seam on GCP, by what it sends: Secret Manager and Cloud Run REST requests reach a
local recorder (``tests/core/gcp_admin_http.py``) through the real Google clients."""

from __future__ import annotations

import base64
import json

import pytest
from google.auth.credentials import AnonymousCredentials

from b2brec.backends.client_admin import CloudClientAdmin, LoadFailed, LocalClientAdmin, cloud_client_admin
from b2brec.backends.factory import client_admin
from b2brec.etl.__main__ import SPEC_ENV
from b2brec.settings import Backend, Settings
from b2brec.spec import load_environment, parse_spec
from tests.core.gcp_admin_http import GcpAdminRecorder, gcp_admin_server


def _spec(settings: Settings):  # type: ignore[no-untyped-def]
    return load_environment(settings.environments_dir, "nordhandel-prod")


def test_the_factory_picks_the_side_by_backend(settings: Settings) -> None:
    spec = _spec(settings)
    assert isinstance(client_admin(spec, settings), LocalClientAdmin)
    gcp = settings.model_copy(update={"backend": Backend.GCP})
    admin = client_admin(spec, gcp, credentials=AnonymousCredentials())
    assert isinstance(admin, CloudClientAdmin)


def test_the_password_goes_to_the_clients_project_creating_a_missing_secret(settings: Settings) -> None:
    spec = _spec(settings)
    other = "client-other-prod/erp-password"
    with gcp_admin_server(GcpAdminRecorder(secrets={other: []})) as rec:
        admin = cloud_client_admin(spec, credentials=AnonymousCredentials(), endpoint=rec.url)
        admin.secrets.put("erp-password", "s3cr3t")
        assert admin.secrets.exists("erp-password") and admin.secrets.get("erp-password") == "s3cr3t"
        admin.secrets.put("erp-password", "rotated")  # the secret exists now: one more version, no create
    base = f"/v1/projects/{spec.project_id}/secrets"
    assert rec.calls()[:3] == [
        f"POST {base}/erp-password:addVersion",
        f"POST {base}",
        f"POST {base}/erp-password:addVersion",
    ]
    create = rec.sent[1]
    assert create.query["secretId"] == "erp-password"
    assert create.body["replication"] == {"automatic": {}}
    assert create.body["labels"]["client_id"] == spec.client_id
    assert base64.b64decode(rec.sent[2].body["payload"]["data"]) == b"s3cr3t"
    assert rec.secrets == {other: [], f"{spec.project_id}/erp-password": ["s3cr3t", "rotated"]}


def test_the_load_runs_the_clients_cloud_run_etl_job_until_it_succeeds(settings: Settings) -> None:
    spec = _spec(settings)
    lines: list[str] = []
    with gcp_admin_server(GcpAdminRecorder(polls_to_finish=3)) as rec:
        admin = cloud_client_admin(spec, credentials=AnonymousCredentials(), endpoint=rec.url, poll_seconds=0.01)
        done = admin.load(lines.append)
    job = f"projects/{spec.project_id}/locations/{spec.region}/jobs/etl"
    execution = f"{job}/executions/etl-x1"
    assert rec.calls() == [f"POST /v2/{job}:run"] + [f"GET /v2/{execution}"] * 3
    override = rec.sent[0].body["overrides"]["containerOverrides"][0]
    env = {e["name"]: e["value"] for e in override["env"]}
    assert parse_spec(json.loads(env[SPEC_ENV]), origin="override") == spec
    assert done == f"execution etl-x1 of {job} succeeded"
    assert lines == [f"started execution etl-x1 of {job}", "execution etl-x1: running", "execution etl-x1: succeeded"]


def test_a_failed_execution_fails_with_its_message_and_log_url(settings: Settings) -> None:
    spec = _spec(settings)
    lines: list[str] = []
    rec = GcpAdminRecorder(polls_to_finish=1, fail_with="Task etl-x1-task0 failed: exit code 2")
    with gcp_admin_server(rec):
        admin = cloud_client_admin(spec, credentials=AnonymousCredentials(), endpoint=rec.url, poll_seconds=0.01)
        with pytest.raises(LoadFailed) as failed:
            admin.load(lines.append)
    assert "failed: Task etl-x1-task0 failed: exit code 2" in failed.value.message
    assert "https://console.cloud.google.com/logs/viewer?execution=etl-x1" in failed.value.fix
    assert lines[-1] == "execution etl-x1: failed"


def test_a_missing_job_is_reported_with_what_to_check(settings: Settings) -> None:
    spec = _spec(settings).model_copy(update={"region": "us-central1"})
    with gcp_admin_server(GcpAdminRecorder()) as rec:
        rec.handle = lambda *a: (404, {"error": {"code": 404, "message": "Job etl not found", "status": "NOT_FOUND"}})  # type: ignore[method-assign]
        admin = cloud_client_admin(spec, credentials=AnonymousCredentials(), endpoint=rec.url, poll_seconds=0.01)
        with pytest.raises(LoadFailed) as failed:
            admin.load(lambda line: None)
    assert "could not start the Cloud Run job" in failed.value.message and "not found" in failed.value.message
    assert "stack is applied" in failed.value.fix


def test_gcp_calls_act_as_the_deployer(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without explicit credentials the ambient ones (the control plane's account) impersonate the deployer."""
    import google.auth
    from google.auth import impersonated_credentials

    ambient = AnonymousCredentials()
    monkeypatch.setattr(google.auth, "default", lambda scopes=None: (ambient, "control-plane-prod"))
    deployer = "terraform@platform-prod.iam.gserviceaccount.com"
    gcp = settings.model_copy(update={"backend": Backend.GCP})
    admin = client_admin(_spec(settings), gcp, impersonate=deployer)
    secrets_client = admin.secrets.client  # type: ignore[attr-defined]
    credentials = secrets_client._transport._credentials
    assert isinstance(credentials, impersonated_credentials.Credentials)
    assert credentials._target_principal == deployer
    assert isinstance(credentials._source_credentials, AnonymousCredentials)  # the ambient ones, as the source
    assert credentials._target_scopes == ["https://www.googleapis.com/auth/cloud-platform"]
    assert admin._load.runner.client._transport._credentials is credentials  # type: ignore[attr-defined]
