"""Policy suite over the synthesized JSON of every stack (org, control plane, every environment).

These are the rules checkov has no check for (or checks differently): labels, the NAT's one
static IP, public Cloud Run invokers, basic roles, secrets in JSON, data residency, deletion
protection of stateful resources.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from b2brec import naming
from b2brec.spec import list_environments
from modules.base import BASIC_ROLES, PUBLIC_MEMBERS
from stacks.client_iam import PUBLIC_SERVICES
from stacks.client_project import SNAPSHOTS_DATASET
from stacks.synth import PLATFORM_STACKS
from tests.infra.conftest import ENVIRONMENTS, Synthesized

STACKS = [*PLATFORM_STACKS, *list_environments(ENVIRONMENTS)]


def component(member: str) -> str:
    """The component a member names: ``serviceAccount:serving@…`` or a reference to its account resource
    (``${google_service_account.service_accounts_etl_runner_1A2B3C4D.member}``, what client stacks write)."""
    ref = re.match(r"^\$\{google_service_account\.service_accounts_([a-z_]+)_[0-9A-F]{8}\.(member|email)\}$", member)
    if ref:
        return ref.group(1).replace("_", "-")
    return member.split(":")[1].split("@")[0]


LABEL_FIELDS: dict[str, tuple[str, ...]] = {
    "google_project": ("labels",),
    "google_storage_bucket": ("labels",),
    "google_bigquery_dataset": ("labels",),
    "google_bigquery_table": ("labels",),
    "google_sql_database_instance": ("settings", "user_labels"),
    "google_secret_manager_secret": ("labels",),
    "google_artifact_registry_repository": ("labels",),
    "google_cloud_run_v2_service": ("labels",),
    "google_cloud_run_v2_job": ("labels",),
    "google_cloud_run_v2_worker_pool": ("labels",),
    "google_redis_instance": ("labels",),
    "google_compute_address": ("labels",),
    "google_dns_managed_zone": ("labels",),
    "google_cloud_run_domain_mapping": ("metadata", "labels"),
    "google_monitoring_notification_channel": ("user_labels",),
    "google_monitoring_uptime_check_config": ("user_labels",),
    "google_monitoring_alert_policy": ("user_labels",),
}
"""Resource types that take labels, and where."""

UNLABELABLE: frozenset[str] = frozenset(
    {
        "google_artifact_registry_repository_iam_member",
        "google_bigquery_dataset_iam_member",
        "google_bigquery_data_transfer_config",
        "google_billing_budget",
        "google_cloud_run_v2_job_iam_member",
        "google_cloud_run_v2_service_iam_member",
        "google_cloud_scheduler_job",
        "google_compute_firewall",
        "google_compute_global_address",
        "google_compute_global_forwarding_rule",  # a PSC endpoint for Google APIs refuses labels on create
        "google_compute_network",
        "google_compute_router",
        "google_compute_router_nat",
        "google_compute_network_attachment",
        "google_compute_subnetwork",
        "google_dns_record_set",
        "google_folder",
        "google_folder_iam_member",
        "google_iap_web_cloud_run_service_iam_member",
        "google_monitoring_monitored_project",
        "google_project_default_service_accounts",
        "google_project_iam_audit_config",
        "google_project_iam_custom_role",
        "google_project_iam_member",
        "google_project_service",
        "google_secret_manager_secret_iam_member",
        "google_secret_manager_secret_version",
        "google_service_account",
        "google_service_account_iam_member",
        "google_service_networking_connection",
        "google_sql_database",
        "google_sql_user",
        "google_storage_bucket_iam_member",
    }
)
"""Types the provider offers no labels for (each one a deliberate entry)."""

STATEFUL: frozenset[str] = frozenset(
    {
        "google_project",
        "google_folder",
        "google_storage_bucket",
        "google_bigquery_dataset",
        "google_bigquery_table",
        "google_sql_database_instance",
        "google_sql_database",
        "google_secret_manager_secret",
    }
)
SECRETISH_KEYS = re.compile(r"(password|secret_data|private_key|root_password|api_key|access_token|credentials)$")
SECRETISH_VALUES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AIza[0-9A-Za-z_-]{20,}|\"type\": \"service_account\""
)


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest, stacks: dict[str, Synthesized]) -> Synthesized:
    return stacks[request.param]


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _walk(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _walk(v, f"{path}[{i}]")]
    return [(path, value)]


def _get(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        body = body.get(part, {}) if isinstance(body, dict) else {}
    return body


def test_every_resource_type_is_classified_for_labels(stack: Synthesized) -> None:
    types = set(stack.data.get("resource", {}))
    unknown = sorted(types - set(LABEL_FIELDS) - UNLABELABLE)
    assert not unknown, f"decide whether these take labels (LABEL_FIELDS) or not (UNLABELABLE): {unknown}"


def test_every_labelable_resource_carries_the_five_labels(stack: Synthesized) -> None:
    expected = stack.spec.standard_labels if stack.spec else None
    for rtype, name, body in stack.all_resources():
        if rtype not in LABEL_FIELDS:
            continue
        labels = _get(body, LABEL_FIELDS[rtype])
        missing = [k for k in naming.LABEL_KEYS if k not in labels]
        assert not missing, f"{rtype}.{name} lacks labels {missing}"
        if expected is not None:
            assert {k: labels[k] for k in naming.LABEL_KEYS} == expected, f"{rtype}.{name}"


def test_nat_uses_exactly_the_reserved_static_ip_and_all_egress_goes_through_it(stack: Synthesized) -> None:
    nats = stack.resources("google_compute_router_nat")
    runs = {
        **stack.resources("google_cloud_run_v2_service"),
        **stack.resources("google_cloud_run_v2_job"),
        **stack.resources("google_cloud_run_v2_worker_pool"),
    }
    if not runs:  # the org stack: folders only, nothing that makes outbound connections
        assert not nats
        return
    addresses = stack.resources("google_compute_address")
    assert len(nats) == 1 and len(addresses) == 1
    (address_id,) = addresses
    (nat,) = nats.values()
    assert addresses[address_id]["address_type"] == "EXTERNAL"
    assert nat["nat_ip_allocate_option"] == "MANUAL_ONLY"
    assert nat["nat_ips"] == [f"${{google_compute_address.{address_id}.self_link}}"]
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    assert "egress_ip" in stack.data["output"]
    for name, body in runs.items():
        template = body["template"].get("template", body["template"])
        assert template["vpc_access"]["egress"] == "ALL_TRAFFIC", f"{name} egress bypasses the NAT"


def test_no_bucket_can_be_public(stack: Synthesized) -> None:
    for name, bucket in stack.resources("google_storage_bucket").items():
        assert bucket["public_access_prevention"] == "enforced", name
        assert bucket["uniform_bucket_level_access"] is True, name
    for rtype, name, body in stack.all_resources():
        if rtype.endswith("_iam_member") and rtype != "google_cloud_run_v2_service_iam_member":
            assert body["member"] not in PUBLIC_MEMBERS, f"{rtype}.{name} grants {body['member']}"


def test_only_listed_cloud_run_services_have_public_invokers(stack: Synthesized) -> None:
    """checkov has no rule for Cloud Run v2 public invokers: allUsers only where the app authenticates."""
    services = stack.resources("google_cloud_run_v2_service")
    for name, binding in stack.resources("google_cloud_run_v2_service_iam_member").items():
        if binding["member"] in PUBLIC_MEMBERS:
            service_ref = binding["name"].split(".")[1]
            service_name = services[service_ref]["name"]
            assert service_name in PUBLIC_SERVICES, f"{name}: {service_name} must not be public"
            assert binding["role"] == "roles/run.invoker", name
    for name, service in services.items():
        if service["name"] not in PUBLIC_SERVICES:
            assert service["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY" or stack.spec is None, name


def test_the_public_serving_api_can_read_its_keys_and_admin_token(stack: Synthesized) -> None:
    """serving is public because every recommendation call must carry an API key; it reads the keys
    and the admin token from Secret Manager at run time (``serving.credentials``), under the names
    ``ServingSettings`` defaults to, so its account must hold secretAccessor on exactly those."""
    services = {s["name"]: s for s in stack.resources("google_cloud_run_v2_service").values()}
    if "serving" not in services:
        return
    from serving.config import ServingSettings

    (container,) = services["serving"]["template"]["containers"]
    assert not [e for e in container.get("env", []) if "value_source" in e], "no secret in serving's environment"
    secrets = {ref: s["secret_id"] for ref, s in stack.resources("google_secret_manager_secret").items()}
    readers = {
        (secrets[b["secret_id"].split(".")[1]], component(b["member"]))
        for b in stack.resources("google_secret_manager_secret_iam_member").values()
        if b["role"] == "roles/secretmanager.secretAccessor"
    }
    defaults = ServingSettings.model_fields
    for name in (defaults["api_keys_secret"].default, defaults["admin_token_secret"].default):
        assert (name, "serving") in readers, f"serving cannot read {name}"


def test_the_etl_staging_dataset_is_the_one_dlt_uses() -> None:
    """dlt stages merges into ``{dataset}_staging``; Terraform must create exactly that dataset, or the
    ETL account (no dataset-create right) fails on its first merge."""
    from dlt.common.destination.client import DestinationClientDwhConfiguration

    from b2brec.features import RAW_DATASET

    layout = DestinationClientDwhConfiguration().staging_dataset_name_layout
    assert layout % RAW_DATASET == naming.ETL_STAGING_DATASET


def test_serving_can_write_its_prediction_log_and_the_etl_its_staging(stack: Synthesized) -> None:
    """Dataset-level grants the runtime needs: serving streams rows into predictions, the ETL
    account writes dlt's staging dataset."""
    if stack.spec is None:
        return
    datasets = {ref: d["dataset_id"] for ref, d in stack.resources("google_bigquery_dataset").items()}
    editors = {
        (datasets[b["dataset_id"].split(".")[1]], component(b["member"]))
        for b in stack.resources("google_bigquery_dataset_iam_member").values()
        if b["role"] == "roles/bigquery.dataEditor"
    }
    assert ("predictions", "serving") in editors
    assert (naming.ETL_STAGING_DATASET, "etl-runner") in editors
    tables = {t["table_id"]: t for t in stack.resources("google_bigquery_table").values()}
    history = tables["recommendation_history"]
    assert history["time_partitioning"] == {"type": "DAY", "field": "created_at"}


def test_no_principal_holds_a_basic_role_and_no_keys_exist(stack: Synthesized) -> None:
    for rtype, name, body in stack.all_resources():
        if "_iam_" in rtype and "role" in body:
            assert body["role"] not in BASIC_ROLES, f"{rtype}.{name} grants {body['role']}"
    assert "google_service_account_key" not in stack.data.get("resource", {})
    assert "google_project_iam_binding" not in stack.data.get("resource", {})


def test_cloud_sql_has_no_public_ip_and_enforces_ssl(stack: Synthesized) -> None:
    for name, instance in stack.resources("google_sql_database_instance").items():
        ip = instance["settings"]["ip_configuration"]
        assert ip["ipv4_enabled"] is False, name
        assert "authorized_networks" not in ip, name
        assert ip["private_network"], name
        assert ip["ssl_mode"] in {"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"}, name
        # The CIS logging flags whose checkov checks (CKV_GCP_54, CKV_GCP_57) crash on Terraform JSON.
        flags = {f["name"]: f["value"] for f in instance["settings"]["database_flags"]}
        assert flags["log_lock_waits"] == "on" and flags["log_min_duration_statement"] == "-1", name


def test_no_secret_value_password_or_key_appears_in_the_json(stack: Synthesized) -> None:
    resources = stack.data.get("resource", {})
    # The one version Terraform writes: the Memorystore AUTH string, copied from the instance's attribute
    # (already in the state), never a literal.
    versions = resources.get("google_secret_manager_secret_version", {})
    for name, version in versions.items():
        assert re.fullmatch(r"\$\{google_redis_instance\.[A-Za-z0-9_]+\.auth_string\}", version["secret_data"]), name
        assert set(version) - {"//", "depends_on"} == {"secret", "secret_data"}, name
    assert "google_sql_user" not in resources or all(
        u["type"] == "CLOUD_IAM_SERVICE_ACCOUNT" for u in resources["google_sql_user"].values()
    )
    for path, _value in _walk(stack.data):
        leaf = path.rsplit(".", 1)[-1].split("[")[0]
        if path.startswith(".resource.google_secret_manager_secret_version.") and leaf == "secret_data":
            continue  # checked above: a reference to the instance's AUTH string
        assert not SECRETISH_KEYS.search(leaf), f"secret-like field {path}"
    assert not SECRETISH_VALUES.search(json.dumps(stack.data)), "secret-like value in the JSON"


def test_every_regional_resource_is_in_the_environment_region(stack: Synthesized) -> None:
    region = stack.region
    assert stack.data["provider"]["google"][0]["region"] == region
    for rtype, name, body in stack.all_resources():
        for field in ("region", "location"):
            if field in body:
                assert body[field].lower() == region, f"{rtype}.{name}.{field} = {body[field]} (want {region})"
        for path, value in _walk(body):
            if path.endswith(".replicas[0].location") or path.endswith("backup_configuration.location"):
                assert value == region, f"{rtype}.{name}{path} = {value}"


def test_stateful_resources_are_protected_from_deletion(stack: Synthesized) -> None:
    for rtype, name, body in stack.all_resources():
        if rtype not in STATEFUL:
            continue
        assert body.get("lifecycle", {}).get("prevent_destroy") is True, f"{rtype}.{name} lacks prevent_destroy"
        if rtype != "google_folder":
            assert body.get("deletion_policy") == "PREVENT", f"{rtype}.{name}"
        else:
            assert body["deletion_protection"] is True
    for name, bucket in stack.resources("google_storage_bucket").items():
        assert bucket["force_destroy"] is False, name
    for name, dataset in stack.resources("google_bigquery_dataset").items():
        assert dataset["delete_contents_on_destroy"] is False, name
    for name, table in stack.resources("google_bigquery_table").items():
        assert table["deletion_protection"] is True, name
    for name, instance in stack.resources("google_sql_database_instance").items():
        assert instance["deletion_protection"] is True and instance["settings"]["deletion_protection_enabled"], name
    for name, secret in stack.resources("google_secret_manager_secret").items():
        assert secret["deletion_protection"] is True, name


def test_cloud_run_revisions_and_traffic_belong_to_the_deploy_tool(stack: Synthesized) -> None:
    for name, service in stack.resources("google_cloud_run_v2_service").items():
        ignored = service["lifecycle"]["ignore_changes"]
        assert {"traffic", "template[0].revision", "template[0].containers[0].image"} <= set(ignored), name
        assert "traffic" not in service, name
    for name, pool in stack.resources("google_cloud_run_v2_worker_pool").items():
        ignored = pool["lifecycle"]["ignore_changes"]
        assert {"instance_splits", "template[0].revision", "template[0].containers[0].image"} <= set(ignored), name


@pytest.mark.parametrize("name", list_environments(ENVIRONMENTS))
def test_client_stack_has_every_dataset_bucket_and_component_account(name: str, stacks: dict[str, Synthesized]) -> None:
    stack = stacks[name]
    spec = stack.spec
    assert spec is not None
    datasets = sorted(d["dataset_id"] for d in stack.resources("google_bigquery_dataset").values())
    assert datasets == sorted((*naming.DATASETS, naming.ETL_STAGING_DATASET, SNAPSHOTS_DATASET))
    buckets = sorted(b["name"] for b in stack.resources("google_storage_bucket").values())
    assert buckets == sorted(spec.bucket(p) for p in naming.BUCKET_PURPOSES)
    accounts = sorted(a["account_id"] for a in stack.resources("google_service_account").values())
    assert accounts == ["backup", "client-app", "etl-runner", "mlflow", "scheduler", "serving", "trainer"]
    project = next(iter(stack.resources("google_project").values()))
    assert project["project_id"] == spec.project_id
    assert stack.data["terraform"]["backend"]["gcs"]["prefix"] == f"stacks/{stack.name}"


def test_every_dependency_is_a_plain_address_of_a_resource_in_the_stack(stack: Synthesized) -> None:
    """Terraform wants ``type.name`` in depends_on; an interpolation ``${...}`` there is an error."""
    addresses = {f"{rtype}.{name}" for rtype, name, _body in stack.all_resources()}
    addresses |= {f"data.{rtype}.{name}" for rtype, items in stack.data.get("data", {}).items() for name in items}
    for rtype, name, body in stack.all_resources():
        for dependency in body.get("depends_on", []):
            assert dependency in addresses, f"{rtype}.{name} depends on {dependency!r}"
