"""The control plane stack carries what the app needs on GCP: Cloud SQL, IAP, secrets, the
metrics scope over client projects and the billing view (partial-property checks on the synth)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from b2brec.billing_export import export_table
from stacks.platform import load_platform
from stacks.synth import quiet_jsii, resolve_targets, synthesize

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    quiet_jsii()
    out = tmp_path_factory.mktemp("synth")
    targets = [t for t in resolve_targets(REPO / "environments", all_=True) if t.name != "org"]
    synthesize(targets, load_platform(), out)
    return json.loads((out / "control-plane" / "cdk.tf.json").read_text())


def _resources(stack: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return list(stack["resource"].get(rtype, {}).values())


def test_cloud_sql_database_for_the_app(stack: dict[str, Any]) -> None:
    (instance,) = _resources(stack, "google_sql_database_instance")
    assert instance["name"] == "control-plane"
    assert instance["settings"]["ip_configuration"]["ipv4_enabled"] is False
    assert [d["name"] for d in _resources(stack, "google_sql_database")] == ["control_plane"]
    (user,) = _resources(stack, "google_sql_user")
    assert user["type"] == "CLOUD_IAM_SERVICE_ACCOUNT" and "control_plane" in user["name"]  # the app's account


def test_iap_in_front_of_the_service(stack: dict[str, Any]) -> None:
    (service,) = _resources(stack, "google_cloud_run_v2_service")
    assert service["iap_enabled"] is True
    env = {e["name"]: e for e in service["template"]["containers"][0]["env"]}
    assert "/locations/europe-west1/services/control-plane" in env["B2BREC_CP_IAP_AUDIENCE"]["value"]
    assert "B2BREC_CP_SECRET_KEY" not in env  # read (or created) in Secret Manager at start: first apply works
    assert env["B2BREC_CP_DATABASE_URL"]["value"].startswith(
        "postgresql+psycopg://control-plane%40control-plane-prod.iam@127.0.0.1:5432/"
    )
    assert env["B2BREC_CP_LOCAL_DEV"]["value"] == "0"
    invokers = [m["member"] for m in _resources(stack, "google_cloud_run_v2_service_iam_member")]
    assert any("@gcp-sa-iap.iam.gserviceaccount.com" in m for m in invokers)


def test_secrets_are_containers_only(stack: dict[str, Any]) -> None:
    ids = {s["secret_id"] for s in _resources(stack, "google_secret_manager_secret")}
    assert {"control-plane-secret-key", "control-plane-smtp-password"} <= ids
    # the one version Terraform writes: the broker's AUTH string, copied from the Memorystore instance
    (version,) = _resources(stack, "google_secret_manager_secret_version")
    assert version["secret_data"].startswith("${google_redis_instance.") and version["secret_data"].endswith(
        ".auth_string}"
    )
    assert "control-plane-broker-auth" in ids


def test_metrics_scope_covers_every_client_project(stack: dict[str, Any]) -> None:
    from b2brec.spec import list_environments, load_environment

    projects = {load_environment(REPO / "environments", n).project_id for n in list_environments(REPO / "environments")}
    monitored = _resources(stack, "google_monitoring_monitored_project")
    assert {m["name"] for m in monitored} == projects
    assert {m["metrics_scope"] for m in monitored} == {"locations/global/metricsScopes/control-plane-prod"}


def test_billing_view_reads_the_export_table(stack: dict[str, Any]) -> None:
    (view,) = _resources(stack, "google_bigquery_table")
    assert view["table_id"] == "client_costs_daily"
    platform = load_platform()
    table = export_table(platform.control_plane_project, "billing_export", platform.billing_account)
    assert f"`{table}`" in view["view"]["query"] and view["view"]["use_legacy_sql"] is False


def test_the_app_reads_the_export_table_the_view_reads_and_provisions_as_the_deployer(stack: dict[str, Any]) -> None:
    from control_plane.settings import ControlPlaneSettings

    (service,) = [s for s in _resources(stack, "google_cloud_run_v2_service") if s["name"] == "control-plane"]
    env = {e["name"]: e.get("value") for e in service["template"]["containers"][0]["env"]}
    platform = load_platform()
    table = export_table(platform.control_plane_project, "billing_export", platform.billing_account)
    assert env["B2BREC_CP_BILLING_EXPORT_TABLE"] == table
    assert env["B2BREC_CP_TERRAFORM_IMPERSONATE"] == platform.terraform_sa  # its provisioner acts as the deployer
    assert ControlPlaneSettings(billing_export_table=table).billing_export_table == table  # passes its validation
