"""Redis on GCP (issues 11 and 12): the Memorystore and worker-pool constructs, and what every synthesized
stack makes of them: the instance with AUTH and TLS on the stack's VPC, its AUTH string readable by the app's
account only, and the broker's variables on each app's web service and worker."""

from __future__ import annotations

import re
from typing import Any

import pytest

from b2brec.broker import AUTH_ENV, CA_ENV, HOST_ENV, PORT_ENV
from b2brec.spec import list_environments
from modules.base import PropsError
from modules.cloud_run import Egress
from modules.cloud_run_worker_pool import CloudRunWorkerPool, CloudRunWorkerPoolProps
from modules.memorystore import Memorystore, MemorystoreProps
from tests.images.runtime import containers
from tests.infra.conftest import ENVIRONMENTS, LABELS, PROJECT, REGION, Synthesized, has, only, synth_construct

APP_SA = f"serviceAccount:client-app@{PROJECT}.iam.gserviceaccount.com"
NETWORK = f"projects/{PROJECT}/global/networks/b2brec"
ACCESSOR = "roles/secretmanager.secretAccessor"
CLIENT_STACKS = list_environments(ENVIRONMENTS)


def _memorystore(**change: Any) -> dict[str, Any]:
    props = {
        "project_id": PROJECT,
        "region": REGION,
        "name": "b2brec-broker",
        "labels": LABELS,
        "network": NETWORK,
        "auth_secret_id": "broker-auth",
        "readers": (APP_SA,),
        **change,
    }

    def build(scope: Any) -> None:
        Memorystore(scope, "m", MemorystoreProps(**props))

    return synth_construct(build)


def test_memorystore_is_private_with_auth_tls_and_noeviction() -> None:
    data = _memorystore(tier="STANDARD_HA")
    assert has(
        data,
        "google_redis_instance",
        {
            "name": "b2brec-broker",
            "region": REGION,
            "tier": "STANDARD_HA",
            "authorized_network": NETWORK,
            "connect_mode": "PRIVATE_SERVICE_ACCESS",
            "auth_enabled": True,
            "transit_encryption_mode": "SERVER_AUTHENTICATION",
            "redis_configs": {"maxmemory-policy": "noeviction"},
            "labels": LABELS,
        },
    )
    # the AUTH string reaches Secret Manager from the instance's attribute; only the readers may access it
    version = only(data, "google_secret_manager_secret_version")
    assert re.fullmatch(r"\$\{google_redis_instance\.m_instance_[0-9A-F]{8}\.auth_string\}", version["secret_data"])
    assert has(data, "google_secret_manager_secret", {"secret_id": "broker-auth", "deletion_protection": True})
    bindings = list(data["resource"]["google_secret_manager_secret_iam_member"].values())
    assert [(b["role"], b["member"]) for b in bindings] == [(ACCESSOR, APP_SA)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tier": "PREMIUM"}, "tier 'PREMIUM'; use BASIC or STANDARD_HA"),
        ({"memory_gb": 0}, "memory_gb 0 must be 1..300"),
        ({"readers": ()}, "readers is empty"),
        ({"redis_version": "REDIS_3_2"}, "redis_version 'REDIS_3_2'"),
        ({"name": "Broker"}, "use lowercase letters"),
    ],
)
def test_memorystore_refuses_bad_props(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PropsError, match=re.escape(message)):
        _memorystore(**change)


def _pool(**change: Any) -> dict[str, Any]:
    props = {
        "project_id": PROJECT,
        "region": REGION,
        "name": "client-app-worker",
        "service_account": f"client-app@{PROJECT}.iam.gserviceaccount.com",
        "labels": LABELS,
        "egress": Egress(network=NETWORK, subnetwork="subnet-id"),
        "command": ("celery", "-A", "x", "worker"),
        "env": {"A": "1"},
        "secret_env": {"B": "broker-auth"},
        **change,
    }

    def build(scope: Any) -> None:
        CloudRunWorkerPool(scope, "w", CloudRunWorkerPoolProps(**props))

    return synth_construct(build)


def test_worker_pool_runs_the_command_with_fixed_instances_through_the_vpc() -> None:
    pool = only(_pool(cloud_sql="p:r:i"), "google_cloud_run_v2_worker_pool")
    assert pool["scaling"] == {"scaling_mode": "MANUAL", "manual_instance_count": 1}
    template = pool["template"]
    assert template["vpc_access"] == {
        "egress": "ALL_TRAFFIC",
        "network_interfaces": [{"network": NETWORK, "subnetwork": "subnet-id"}],
    }
    main, proxy = template["containers"]
    assert main["command"] == ["celery", "-A", "x", "worker"]
    assert main["depends_on"] == ["cloud-sql-proxy"]
    assert main["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value_source": {"secret_key_ref": {"secret": "broker-auth", "version": "latest"}}},
    ]
    assert proxy["name"] == "cloud-sql-proxy" and proxy["args"][-1] == "p:r:i"
    assert "template[0].containers[0].image" in pool["lifecycle"]["ignore_changes"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"command": ()}, "command is empty"),
        ({"instances": 0}, "instances 0 must be 1..100"),
        ({"service_account": "1-compute@developer.gserviceaccount.com"}, "default compute service account"),
    ],
)
def test_worker_pool_refuses_bad_props(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PropsError, match=re.escape(message)):
        _pool(**change)


# --- the synthesized stacks ---------------------------------------------------------------------------------

APPS = {
    # stack kind -> (web service, worker pool, AUTH secret, the only account that may read it)
    "client": ("client-app", "client-app-worker", "broker-auth", "client_app"),
    "control-plane": ("control-plane", "control-plane-worker", "control-plane-broker-auth", "control_plane"),
}


def _check_stack(stack: Synthesized, kind: str, tier: str) -> None:
    web, worker, secret_id, account = APPS[kind]
    (instance_id, instance), *others = stack.resources("google_redis_instance").items()
    assert not others, "one broker per stack"
    assert instance["auth_enabled"] is True and instance["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    assert instance["connect_mode"] == "PRIVATE_SERVICE_ACCESS" and instance["tier"] == tier
    (vpc_id,) = stack.resources("google_compute_network")
    assert instance["authorized_network"] == f"${{google_compute_network.{vpc_id}.id}}"
    (peering_id,) = stack.resources("google_service_networking_connection")
    assert f"google_service_networking_connection.{peering_id}" in instance["depends_on"]
    assert any(s["service"] == "redis.googleapis.com" for s in stack.resources("google_project_service").values())

    # the AUTH secret: accessor for the app's account only, and no other binding on it
    (secret_name,) = [
        n for n, s in stack.resources("google_secret_manager_secret").items() if s["secret_id"] == secret_id
    ]
    bindings = [
        b
        for b in stack.resources("google_secret_manager_secret_iam_member").values()
        if b["secret_id"] == f"${{google_secret_manager_secret.{secret_name}.secret_id}}"
    ]
    assert [b["role"] for b in bindings] == [ACCESSOR]
    member = bindings[0]["member"]
    assert re.fullmatch(rf"(\$\{{google_service_account\.service_accounts_{account}_[0-9A-F]{{8}}\.member\}}|"
                        rf"serviceAccount:{web}@.+)", member), member  # fmt: skip
    (version_name,) = stack.resources("google_secret_manager_secret_version")

    runtimes = containers(stack.name, stack.data)
    ref = f"google_redis_instance.{instance_id}"
    for key in (("service", web), ("pool", worker)):
        runtime = runtimes[key]
        assert runtime.env[HOST_ENV] == f"${{{ref}.host}}", key
        assert runtime.env[PORT_ENV] == f"${{{ref}.port}}", key
        assert runtime.env[CA_ENV] == f'${{join("\\n", {ref}.server_ca_certs[*].cert)}}', key
        assert runtime.secret_env == {AUTH_ENV: {"secret_key_ref": {"secret": secret_id, "version": "latest"}}}, key
        assert f"google_secret_manager_secret_version.{version_name}" in runtime.depends_on, key
    web_body = next(b for b in stack.resources("google_cloud_run_v2_service").values() if b["name"] == web)
    pool_body = next(iter(stack.resources("google_cloud_run_v2_worker_pool").values()))
    assert pool_body["template"]["vpc_access"] == web_body["template"]["vpc_access"], "same subnet, same egress"
    assert pool_body["template"]["service_account"] == web_body["template"]["service_account"]
    assert pool_body["scaling"]["manual_instance_count"] == 1, "beat runs in the worker: exactly one"
    web_env = {k: v for k, v in runtimes[("service", web)].env.items() if k != "PORT"}
    assert runtimes[("pool", worker)].env == web_env, "the worker reads what the web app reads"


@pytest.mark.parametrize("name", CLIENT_STACKS)
def test_client_stack_gives_its_app_and_worker_the_memorystore_broker(
    stacks: dict[str, Synthesized], name: str
) -> None:
    stack = stacks[name]
    assert stack.spec is not None
    _check_stack(stack, "client", "STANDARD_HA" if stack.spec.env == "prod" else "BASIC")


def test_control_plane_stack_gives_its_app_and_worker_the_memorystore_broker(
    stacks: dict[str, Synthesized],
) -> None:
    _check_stack(stacks["control-plane"], "control-plane", "STANDARD_HA")


def test_the_tier_is_a_spec_setting() -> None:
    from b2brec.spec.infra import InfraSettings

    assert InfraSettings().redis.resolved_tier("prod") == "STANDARD_HA"
    assert InfraSettings().redis.resolved_tier("dev") == "BASIC"
    assert InfraSettings.model_validate({"redis": {"tier": "STANDARD_HA"}}).redis.resolved_tier("dev") == "STANDARD_HA"
    with pytest.raises(ValueError, match="use BASIC or STANDARD_HA"):
        InfraSettings.model_validate({"redis": {"tier": "HUGE"}})
