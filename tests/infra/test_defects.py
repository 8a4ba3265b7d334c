"""One test per defect of issue 8 ("the client template runs on Google Cloud as synthesized"), each over
the synthesized JSON of every client stack (or a stack built from a hostile spec). The image-level
defects (1: eager backends, 2: serving's entrypoint, 3: MLflow's database) are also started for real
in tests/images/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from b2brec.backends.factory import backends_for
from b2brec.errors import B2BRecError
from b2brec.settings import Backend, Settings
from b2brec.spec import ClientSpec, list_environments, load_environment
from modules.base import PropsError, tf_literal
from modules.project import display_name
from stacks.client_iam import CONNECTION_SECRET_PREFIX
from tests.images.runtime import containers, unwritten_secret_refs
from tests.infra.conftest import ENVIRONMENTS, Synthesized

CLIENT_STACKS = list_environments(ENVIRONMENTS)
_SA_EMAIL = re.compile(r"[a-z][a-z0-9-]+@[a-z0-9-]+\.iam\.gserviceaccount\.com")
_INTERPOLATION = re.compile(r"(?<![$%])[$%]\{")
_REFERENCE = re.compile(
    r'^\$\{([a-z0-9_]+\.[A-Za-z0-9_-]+\.[a-z0-9_.\[\]]+|(trimsuffix|replace|join)\(("\\n", )?[a-z0-9_]+\.)'
)
"""What a ``${`` may start in the JSON: a resource attribute, or a function of one (nothing from a spec);
``join("\\n", …)`` bundles the Memorystore server CAs."""


def _strings(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "//":
                yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))
    elif isinstance(value, str):
        yield path, value


@pytest.fixture(params=CLIENT_STACKS)
def client_stack(request: pytest.FixtureRequest, stacks: dict[str, Synthesized]) -> Synthesized:
    return stacks[request.param]


# --- 1: backends built lazily -------------------------------------------------------------------------


def test_1_gcp_backends_need_the_trainer_settings_only_for_jobs() -> None:
    spec = load_environment(ENVIRONMENTS, "prairie-supply-dev")
    backends = backends_for(spec, Settings(backend=Backend.GCP))
    # Building the warehouse, secrets and storage sends nothing and needs no trainer image or staging bucket.
    assert backends.warehouse.project == spec.project_id  # type: ignore[attr-defined]
    assert backends.secrets.secret_path("x") == f"projects/{spec.project_id}/secrets/x"  # type: ignore[attr-defined]
    assert backends.storage("models").url() == f"gs://{spec.bucket('models')}"
    with pytest.raises(B2BRecError, match="B2BREC_TRAINER_IMAGE"):
        _ = backends.jobs


# --- 5: least privilege ---------------------------------------------------------------------------------


def test_5_no_account_holds_an_unconditioned_project_wide_secret_role(client_stack: Synthesized) -> None:
    for body in client_stack.resources("google_project_iam_member").values():
        if body["role"].startswith("roles/secretmanager."):
            condition = body.get("condition", {}).get("expression", "")
            assert condition.startswith("resource.name.startsWith(") and (
                f'/secrets/{CONNECTION_SECRET_PREFIX}")' in condition
            ), f"{client_stack.name}: {body['role']} project-wide for {body['member']} without the conn- condition"


def test_5_only_serving_reads_the_admin_token(client_stack: Synthesized) -> None:
    secrets = client_stack.resources("google_secret_manager_secret")
    (admin,) = [name for name, body in secrets.items() if body["secret_id"] == "serving-admin-token"]
    readers = [
        body["member"]
        for body in client_stack.resources("google_secret_manager_secret_iam_member").values()
        if f".{admin}." in body["secret_id"]
    ]
    assert len(readers) == 1 and "service_accounts_serving" in readers[0], readers


# --- 6: apply order -------------------------------------------------------------------------------------


def test_6_every_service_account_is_named_by_reference(client_stack: Synthesized) -> None:
    """A literal email does not make Terraform wait for the account: the first apply races."""
    literal = []
    for rtype, name, body in client_stack.all_resources():
        if rtype == "google_service_account":
            continue
        for path, value in _strings(body):
            if _SA_EMAIL.search(value):
                literal.append(f"{rtype}.{name} {'.'.join(map(str, path))} = {value[:80]}")
    assert not literal, f"{client_stack.name}: literal service-account emails:\n" + "\n".join(literal[:20])


def test_6_sql_users_and_run_identities_reference_their_accounts(client_stack: Synthesized) -> None:
    for body in client_stack.resources("google_sql_user").values():
        assert body["name"].startswith("${trimsuffix(google_service_account.service_accounts_")
    for body in client_stack.resources("google_cloud_run_v2_service").values():
        assert body["template"]["service_account"].startswith("${google_service_account.service_accounts_")


# --- 3: IAM database users can create their schema --------------------------------------------------------


def test_3_iam_database_users_get_a_role_that_owns_the_databases(client_stack: Synthesized) -> None:
    users = client_stack.resources("google_sql_user")
    assert len(users) == 2
    for body in users.values():
        assert body["type"] == "CLOUD_IAM_SERVICE_ACCOUNT" and body["database_roles"] == ["cloudsqlsuperuser"]


def test_3_database_services_reach_cloud_sql_through_the_auth_proxy(client_stack: Synthesized) -> None:
    for body in client_stack.resources("google_cloud_run_v2_service").values():
        containers = body["template"]["containers"]
        env = {item["name"]: item.get("value", "") for item in containers[0].get("env", [])}
        url = env.get("MLFLOW_BACKEND_STORE_URI") or env.get("B2BREC_DATABASE_URL")
        if url is None:
            assert len(containers) == 1, f"{body['name']} has a sidecar but no database"
            continue
        assert re.match(r"^postgresql\+psycopg://[a-z-]+%40client-[a-z0-9-]+\.iam@127\.0\.0\.1:5432/(app|mlflow)$", url)
        proxy = containers[1]
        assert proxy["name"] == "cloud-sql-proxy" and containers[0]["depends_on"] == ["cloud-sql-proxy"]
        assert {"--auto-iam-authn", "--private-ip", "--port=5432"} <= set(proxy["args"])
        assert proxy["args"][-1].endswith(".connection_name}")


# --- 7: first apply -------------------------------------------------------------------------------------


def test_7_no_container_waits_on_a_secret_version(client_stack: Synthesized) -> None:
    """Terraform creates secrets without values; a ``latest`` reference fails the first revision. The one
    exception is the broker's AUTH string: the same apply writes its version, and every mounter waits for it."""
    mounted = 0
    for runtime in containers(client_stack.name, client_stack.data).values():
        assert set(runtime.secret_env) <= {"B2BREC_BROKER_AUTH"}, f"{runtime.name}: {sorted(runtime.secret_env)}"
        assert not unwritten_secret_refs(runtime, client_stack.data), runtime.name
        mounted += bool(runtime.secret_env)
    assert mounted == 2, "the client app's web service and worker mount the broker's AUTH string"
    assert json.dumps(client_stack.data).count("secret_key_ref") == 2


# --- 8: the egress IP clients allow-list ------------------------------------------------------------------


def test_8_the_egress_ip_cannot_be_destroyed(client_stack: Synthesized) -> None:
    (address,) = client_stack.resources("google_compute_address").values()
    assert address["lifecycle"]["prevent_destroy"] is True


# --- 9: spec strings in the JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Prairie Supply Co.", "Prairie Supply Co"),
        ("Müller & Söhne KG", "Muller Sohne KG"),
        ("${jndi:ldap://x} %{if true}Evil%{endif}", "jndi ldap x if true Evil endif"),
        ("O'Brien Wholesale!", "O'Brien Wholesale!"),
        ("12 Monkeys Ltd.", "Monkeys Ltd"),
        ('"; DROP TABLE x; --', "DROP TABLE x"),
        ("A", "client-x-dev"),
        ("日本商事", "client-x-dev"),
    ],
)
def test_9_display_names_are_what_gcp_accepts(name: str, expected: str) -> None:
    assert display_name(name, "client-x-dev") == expected
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9' !-]{2,28}[A-Za-z0-9'!]|client-x-dev", expected)


def test_9_every_interpolation_in_a_stack_is_a_reference(stacks: dict[str, Synthesized]) -> None:
    """``${B2BREC_HOME}`` in the demo's spec used to reach the JSON as an (invalid) interpolation."""
    for name, stack in stacks.items():
        for path, value in _strings(stack.data):
            for match in _INTERPOLATION.finditer(value):
                rest = value[match.start() :]
                assert _REFERENCE.match(rest), f"{name}: {'.'.join(map(str, path))}: {value[:120]}"


def test_9_a_hostile_spec_synthesizes_to_literal_strings() -> None:
    from cdktn import Testing

    from stacks.client_project import ClientProjectStack
    from stacks.platform import load_platform

    hostile = '${file("/etc/passwd")} %{ for x in y }Evil%{ endfor } Co.'
    spec = ClientSpec(
        client_id="hostile-co",
        name=hostile,
        env="dev",
        region="europe-west1",
        created=date(2026, 11, 30),
        template_version="v1",
        etl={"schedule": "0 2 * * *", "timezone": "${var.tz}"},
        sources={"${src}": {"kind": "sqlite", "path": "${B2BREC_HOME}/%{x}.sqlite"}},
    )
    app = Testing.app()
    stack = ClientProjectStack(app, "hostile", spec=spec, platform=load_platform())
    data = json.loads(Testing.synth(stack))
    values = [value for _, value in _strings(data)]
    for _, value in _strings(data):
        for match in _INTERPOLATION.finditer(value):
            assert _REFERENCE.match(value[match.start() :]), value
    (project,) = data["resource"]["google_project"].values()
    assert project["name"] == "file etc passwd for x in y Evi"[:30].rstrip()
    assert any(tf_literal(spec.model_dump_json()) == v for v in values), "the spec goes in escaped, whole"
    (job,) = [j for j in data["resource"]["google_cloud_scheduler_job"].values() if j["name"] == "etl-schedule"]
    assert job["time_zone"] == "$${var.tz}"


# --- 10: monitoring that tells someone ---------------------------------------------------------------------


def _policies(stack: Synthesized) -> dict[str, dict[str, Any]]:
    return {body["display_name"]: body for body in stack.resources("google_monitoring_alert_policy").values()}


def test_10_errors_alert_on_a_share_with_a_minimum_count(client_stack: Synthesized) -> None:
    policy = _policies(client_stack)["serving 5xx responses"]
    query = policy["conditions"][0]["condition_prometheus_query_language"]["query"]
    assert 'response_code_class="5xx"' in query and "/" in query and "> 0.05" in query and ">= 5" in query


def test_10_nightly_etl_training_sql_and_nat_alerts_exist(client_stack: Synthesized) -> None:
    names = set(_policies(client_stack))
    assert {
        "etl run failed",
        "etl did not run",
        "training job failed",
        "Cloud SQL cpu above 85%",
        "Cloud SQL disk above 85%",
        "NAT dropping packets",
    } <= names
    missing = _policies(client_stack)["etl did not run"]["conditions"][0]["condition_prometheus_query_language"]
    assert "[26h]" in missing["query"] and "or vector(0)" in missing["query"]


def test_10_budget_warns_on_the_forecast(client_stack: Synthesized) -> None:
    (budget,) = client_stack.resources("google_billing_budget").values()
    assert {"spend_basis": "FORECASTED_SPEND", "threshold_percent": 1.0} in budget["threshold_rules"]


def test_10_a_prod_environment_must_name_an_alert_channel() -> None:
    from cdktn import Testing

    from stacks.client_project import ClientProjectStack
    from stacks.platform import load_platform

    spec = load_environment(ENVIRONMENTS, "nordhandel-prod").model_copy(
        update={
            "infra": load_environment(ENVIRONMENTS, "nordhandel-prod").infra.model_copy(update={"alert_emails": {}})
        }
    )
    with pytest.raises(PropsError, match="infra.alert_emails"):
        ClientProjectStack(Testing.app(), "prod-silent", spec=spec, platform=load_platform())
    assert load_environment(ENVIRONMENTS, "nordhandel-prod").infra.alert_emails


def test_10_nat_port_allocation_failures_alert(client_stack: Synthesized) -> None:
    """Port exhaustion shows first as failed allocations (a BOOL gauge), before packets drop."""
    policy = _policies(client_stack)["NAT cannot allocate ports"]
    (condition,) = policy["conditions"]
    threshold = condition["condition_threshold"]
    (nat,) = client_stack.resources("google_compute_router_nat")
    assert 'metric.type="router.googleapis.com/nat/nat_allocation_failed"' in threshold["filter"]
    assert f'resource.label.gateway_name="${{google_compute_router_nat.{nat}.name}}"' in threshold["filter"]
    assert threshold["aggregations"][0]["per_series_aligner"] == "ALIGN_COUNT_TRUE"
    assert threshold["comparison"] == "COMPARISON_GT" and threshold["threshold_value"] == 0
    drops = _policies(client_stack)["NAT dropping packets"]
    assert policy.get("notification_channels") == drops.get("notification_channels")  # the same people hear of it


# --- 11: what the seed's operations need (snapshots, custom domain) ------------------------------------------


def _account_reference(stack: Synthesized, account_id: str) -> str:
    (name,) = [n for n, sa in stack.resources("google_service_account").items() if sa["account_id"] == account_id]
    return f"${{google_service_account.{name}.email}}"


def test_11_raw_data_is_snapshotted_daily_and_each_snapshot_expires(client_stack: Synthesized) -> None:
    spec = client_stack.spec
    assert spec is not None
    (transfer,) = client_stack.resources("google_bigquery_data_transfer_config").values()
    assert transfer["data_source_id"] == "scheduled_query"
    assert transfer["project"] == spec.project_id and transfer["location"] == spec.region
    assert re.fullmatch(r"every day \d\d:\d\d", transfer["schedule"]), transfer["schedule"]
    # runs as the backup account, named by reference (Terraform creates the account first)
    assert transfer["service_account_name"] == _account_reference(client_stack, "backup")
    query = transfer["params"]["query"]
    source, target = f"`{spec.project_id}.raw_data.", f"`{spec.project_id}.raw_data_snapshots."
    assert "CREATE SNAPSHOT TABLE IF NOT EXISTS " + target in query and f"CLONE {source}" in query
    keep = spec.infra.snapshots_keep_days
    assert f"expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {keep} DAY)" in query
    datasets = {d["dataset_id"] for d in client_stack.resources("google_bigquery_dataset").values()}
    assert {"raw_data", "raw_data_snapshots"} <= datasets


def test_11_snapshot_expiry_follows_the_spec() -> None:
    from modules.snapshots import snapshot_script

    assert "INTERVAL 7 DAY" in snapshot_script("p-1", "raw_data", "raw_data_snapshots", 7)
    assert "INTERVAL 30 DAY" not in snapshot_script("p-1", "raw_data", "raw_data_snapshots", 7)


def _domain_mappings(stack: Synthesized) -> list[dict[str, Any]]:
    return list(stack.resources("google_cloud_run_domain_mapping").values())


def test_11_client_app_gets_its_domain_where_cloud_run_maps_domains(client_stack: Synthesized) -> None:
    from stacks.client_project import DOMAIN_MAPPING_REGIONS
    from stacks.platform import load_platform

    spec, domain = client_stack.spec, load_platform().domain
    assert spec is not None and domain
    mappings = _domain_mappings(client_stack)
    if spec.region not in DOMAIN_MAPPING_REGIONS:
        assert not mappings and "client_app_dns" not in client_stack.data["output"]
        return
    (mapping,) = mappings
    label = spec.client_id if spec.env == "prod" else f"{spec.client_id}-{spec.env}"
    assert mapping["name"] == f"{label}.{domain}" and mapping["location"] == spec.region
    assert mapping["spec"]["certificate_mode"] == "AUTOMATIC"
    (app,) = [n for n, s in client_stack.resources("google_cloud_run_v2_service").items() if s["name"] == "client-app"]
    assert mapping["spec"]["route_name"] == f"${{google_cloud_run_v2_service.{app}.name}}"
    outputs = client_stack.data["output"]
    assert "client_app_dns" in outputs and "resource_records" in outputs["client_app_dns"]["value"]
    assert outputs["client_app_domain"]["value"] == f"https://{label}.{domain}"


def test_11_every_kind_of_environment_is_covered(stacks: dict[str, Synthesized]) -> None:
    """The environments exercise both sides of the domain rule above (a mapping region and one without)."""
    from stacks.client_project import DOMAIN_MAPPING_REGIONS

    regions = {stacks[name].region in DOMAIN_MAPPING_REGIONS for name in CLIENT_STACKS}
    assert regions == {True, False}


def test_11_a_prod_client_app_is_served_at_client_dot_domain() -> None:
    from cdktn import Testing

    from stacks.client_project import ClientProjectStack
    from stacks.platform import load_platform

    platform = load_platform()
    spec = load_environment(ENVIRONMENTS, "nordhandel-prod").model_copy(update={"region": "europe-west1"})
    data = json.loads(Testing.synth(ClientProjectStack(Testing.app(), "prod-mapped", spec=spec, platform=platform)))
    (mapping,) = data["resource"]["google_cloud_run_domain_mapping"].values()
    assert mapping["name"] == f"{spec.client_id}.{platform.domain}"
    no_domain = platform.model_copy(update={"domain": None})
    data = json.loads(Testing.synth(ClientProjectStack(Testing.app(), "prod-plain", spec=spec, platform=no_domain)))
    assert "google_cloud_run_domain_mapping" not in data["resource"]
