"""How a Vertex AI training job reaches the client's MLflow (internal ingress, IAM invokers) — defect 4.

Google's PSC-interface egress docs for Vertex AI Training: a job joined to the VPC through a network
attachment reaches an internal-ingress Cloud Run service only if the VPC has a Private Service Connect
endpoint for Google APIs, a private ``run.app.`` zone resolving ``*.run.app`` to it, the job's
``pscInterfaceConfig.dnsPeeringConfigs`` peer ``run.app.`` with that network, and the Vertex AI service
agent holds ``roles/dns.peer``. Checked here on the synthesized JSON of every client stack, and on the
CustomJob request the client app builds from the environment that stack gives it (no Vertex AI emulator).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from b2brec.backends.factory import backends_for
from b2brec.backends.jobs import DnsPeering, JobError, JobSpec, VertexJobRunner
from b2brec.settings import Settings
from b2brec.spec import list_environments, spec_from_json
from modules.base import PropsError
from modules.network import Network, NetworkProps
from tests.images.runtime import containers, settings_from_environment
from tests.infra.conftest import ENVIRONMENTS, LABELS, PROJECT, REGION, Synthesized, synth_construct

CLIENT_STACKS = list_environments(ENVIRONMENTS)
APP_PROCESSES = (("service", "client-app"), ("pool", "client-app-worker"))
"""The client app's web side and its Celery worker: both submit training runs."""


@pytest.fixture(params=CLIENT_STACKS)
def client_stack(request: pytest.FixtureRequest, stacks: dict[str, Synthesized]) -> Synthesized:
    return stacks[request.param]


def _one(stack: Synthesized, rtype: str) -> tuple[str, dict[str, Any]]:
    items = stack.resources(rtype)
    assert len(items) == 1, f"{stack.name}: expected one {rtype}, found {sorted(items)}"
    return next(iter(items.items()))


def _ref(rtype: str, name: str, attribute: str) -> str:
    return f"${{{rtype}.{name}.{attribute}}}"


def _vpc(stack: Synthesized) -> tuple[str, dict[str, Any]]:
    return _one(stack, "google_compute_network")


# --- the network: PSC endpoint for Google APIs, private run.app zone, DNS peer grant --------------------------


def test_the_vpc_has_a_private_service_connect_endpoint_for_google_apis(client_stack: Synthesized) -> None:
    vpc_name, _ = _vpc(client_stack)
    addresses = {
        name: body
        for name, body in client_stack.resources("google_compute_global_address").items()
        if body["purpose"] == "PRIVATE_SERVICE_CONNECT"
    }
    assert len(addresses) == 1, addresses
    ((address_name, address),) = addresses.items()
    assert address["address_type"] == "INTERNAL"
    assert address["network"] == _ref("google_compute_network", vpc_name, "id")
    # a PSC endpoint takes an address that no subnet of the VPC holds
    ip = ipaddress.ip_address(address["address"])
    assert ip.is_private
    for subnet in client_stack.resources("google_compute_subnetwork").values():
        assert ip not in ipaddress.ip_network(subnet["ip_cidr_range"]), subnet["name"]
    # and the automatically allocated private services range (Cloud SQL, Memorystore) is reserved after it
    peering_ranges = [
        body
        for body in client_stack.resources("google_compute_global_address").values()
        if body["purpose"] == "VPC_PEERING"
    ]
    assert all(f"google_compute_global_address.{address_name}" in body["depends_on"] for body in peering_ranges)

    _, rule = _one(client_stack, "google_compute_global_forwarding_rule")
    assert rule["target"] in {"all-apis", "vpc-sc"}
    assert rule["ip_address"] == _ref("google_compute_global_address", address_name, "id")
    assert rule["network"] == _ref("google_compute_network", vpc_name, "id")
    assert rule["load_balancing_scheme"] == ""
    assert re.fullmatch(r"[a-z][a-z0-9]{0,19}", rule["name"]), "PSC endpoints for Google APIs: 1-20 letters/digits"
    assert "labels" not in rule, "PSC forwarding rules refuse labels on create"


def test_run_app_resolves_to_the_endpoint_inside_the_vpc(client_stack: Synthesized) -> None:
    vpc_name, _ = _vpc(client_stack)
    zone_name, zone = _one(client_stack, "google_dns_managed_zone")
    assert zone["dns_name"] == "run.app."
    assert zone["visibility"] == "private"
    assert zone["private_visibility_config"]["networks"] == [
        {"network_url": _ref("google_compute_network", vpc_name, "id")}
    ]
    (address_name,) = [
        name
        for name, body in client_stack.resources("google_compute_global_address").items()
        if body["purpose"] == "PRIVATE_SERVICE_CONNECT"
    ]
    records = {body["name"]: body for body in client_stack.resources("google_dns_record_set").values()}
    assert set(records) == {"run.app.", "*.run.app."}
    for record in records.values():
        assert record["type"] == "A"
        assert record["managed_zone"] == _ref("google_dns_managed_zone", zone_name, "name")
        assert record["rrdatas"] == [_ref("google_compute_global_address", address_name, "address")]


def test_the_vertex_ai_service_agent_may_peer_the_vpcs_dns(client_stack: Synthesized) -> None:
    spec = client_stack.spec
    assert spec is not None
    (project_name,) = client_stack.resources("google_project")
    peers = [
        body
        for body in client_stack.resources("google_project_iam_member").values()
        if body["role"] == "roles/dns.peer"
    ]
    assert peers == [
        {
            **peers[0],
            "project": spec.project_id,
            "member": f"serviceAccount:service-{_ref('google_project', project_name, 'number')}"
            "@gcp-sa-aiplatform.iam.gserviceaccount.com",
        }
    ]
    services = {body["service"] for body in client_stack.resources("google_project_service").values()}
    assert {"dns.googleapis.com", "servicedirectory.googleapis.com", "compute.googleapis.com"} <= services


# --- what the stack gives the client app, and MLflow's ingress ------------------------------------------------


def test_the_client_app_and_its_worker_get_this_stacks_attachment_and_dns_peering(client_stack: Synthesized) -> None:
    (attachment_name,) = client_stack.resources("google_compute_network_attachment")
    vpc_name, vpc = _vpc(client_stack)
    _, zone = _one(client_stack, "google_dns_managed_zone")
    found = containers(client_stack.name, client_stack.data)
    for process in APP_PROCESSES:
        env = found[process].env
        assert env["B2BREC_VERTEX_NETWORK_ATTACHMENT"] == _ref(
            "google_compute_network_attachment", attachment_name, "id"
        ), process
        assert env["B2BREC_VERTEX_DNS_DOMAIN"] == zone["dns_name"], process
        assert env["B2BREC_VERTEX_DNS_NETWORK"] == vpc["name"], process


def test_mlflow_is_internal_with_iam_invokers_only(client_stack: Synthesized) -> None:
    (name, mlflow) = next(
        (name, body)
        for name, body in client_stack.resources("google_cloud_run_v2_service").items()
        if body["name"] == "mlflow"
    )
    assert mlflow["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    members = [
        body
        for body in client_stack.resources("google_cloud_run_v2_service_iam_member").values()
        if body["name"] == _ref("google_cloud_run_v2_service", name, "name") or body["name"] == "mlflow"
    ]
    assert any("service_accounts_trainer_" in body["member"] for body in members), "Vertex AI jobs run as trainer"
    for body in members:
        assert body["role"] == "roles/run.invoker"
        assert re.fullmatch(
            r"\$\{google_service_account\.[A-Za-z0-9_]+\.member\}|serviceAccount:\S+", body["member"]
        ), body
    assert not [
        path
        for rtype in ("google_cloud_run_v2_service_iam_binding", "google_cloud_run_v2_service_iam_policy")
        for path in client_stack.resources(rtype)
    ]


# --- the CustomJob request the client app builds from that environment -----------------------------------


def _client_app_settings(stack: Synthesized) -> Settings:
    """``b2brec.settings.Settings`` as the client app builds it from the stack's environment, with each apply-time
    reference in the form Terraform gives it."""
    spec = stack.spec
    assert spec is not None
    attachment = f"projects/{spec.project_id}/regions/{spec.region}/networkAttachments/b2brec-vertex"
    env = containers(stack.name, stack.data)[("service", "client-app")].resolved_env(
        {
            "network_attachment_B7E4590F.id": attachment,
            ".uri": "https://mlflow-123456789012.europe-west1.run.app",
            ".email": f"trainer@{spec.project_id}.iam.gserviceaccount.com",
            ".host": "10.0.0.3",
            ".port": "6378",
            ".server_ca_certs[*].cert)": "-----BEGIN CERTIFICATE-----",
        }
    )
    fields = {key.removeprefix("B2BREC_").lower(): value for key, value in env.items() if key.startswith("B2BREC_")}
    return settings_from_environment(
        {f"B2BREC_{key.upper()}": value for key, value in fields.items() if key in Settings.model_fields}
    )


@pytest.mark.parametrize("stack_name", CLIENT_STACKS)
def test_every_custom_job_peers_run_app_with_the_clients_vpc(stacks: dict[str, Synthesized], stack_name: str) -> None:
    stack = stacks[stack_name]
    settings = _client_app_settings(stack)
    spec = spec_from_json(settings.client_spec or "")
    runner = backends_for(spec, settings).jobs
    assert isinstance(runner, VertexJobRunner)
    sent: list[tuple[str, Any]] = []

    class RecordingJobs:
        """Stands in for aiplatform_v1.JobServiceClient: records what ``submit`` sends."""

        def create_custom_job(self, *, parent: str, custom_job: Any) -> Any:
            sent.append((parent, custom_job))
            return type("Created", (), {"name": f"{parent}/customJobs/1"})()

    runner._client = RecordingJobs()
    runner.submit(JobSpec(name="train-20261130-010203-ab12", module="trainer.train"))
    ((parent, job),) = sent
    assert parent == f"projects/{spec.project_id}/locations/{spec.region}"
    psc = job.job_spec.psc_interface_config
    assert (
        psc.network_attachment == f"projects/{spec.project_id}/regions/{spec.region}/networkAttachments/b2brec-vertex"
    )
    assert [(p.domain, p.target_project, p.target_network) for p in psc.dns_peering_configs] == [
        ("run.app.", spec.project_id, "b2brec")
    ]
    # the JSON field names Vertex AI's REST API expects (CustomJob.jobSpec.pscInterfaceConfig)
    as_json = type(job).to_dict(job, use_integers_for_enums=False, preserving_proto_field_name=False)
    assert as_json["jobSpec"]["pscInterfaceConfig"]["dnsPeeringConfigs"] == [
        {"domain": "run.app.", "targetProject": spec.project_id, "targetNetwork": "b2brec"}
    ]


def test_dns_peering_needs_the_attachment_and_both_settings() -> None:
    with pytest.raises(JobError, match="needs a network attachment"):
        VertexJobRunner(
            project="p-123456", region=REGION, image_uri="i", staging_bucket="gs://s",
            dns_peering=(DnsPeering(domain="run.app.", network="b2brec"),),
        )  # fmt: skip
    attachment = "projects/p/regions/europe-west1/networkAttachments/b2brec-vertex"
    with pytest.raises(ValueError, match="set both B2BREC_VERTEX_DNS_DOMAIN and B2BREC_VERTEX_DNS_NETWORK"):
        Settings(vertex_network_attachment=attachment, vertex_dns_domain="run.app.")
    with pytest.raises(ValueError, match="must end with a dot"):
        Settings(vertex_network_attachment=attachment, vertex_dns_domain="run.app", vertex_dns_network="b2brec")
    with pytest.raises(ValueError, match="set B2BREC_VERTEX_NETWORK_ATTACHMENT"):
        Settings(vertex_dns_domain="run.app.", vertex_dns_network="b2brec")


# --- the construct ----------------------------------------------------------------------------------------


def test_network_without_google_apis_ip_builds_no_endpoint_or_zone() -> None:
    data = synth_construct(
        lambda s: Network(s, "n", NetworkProps(project_id=PROJECT, region=REGION, name="b2brec", labels=LABELS))
    )
    for rtype in ("google_compute_global_forwarding_rule", "google_dns_managed_zone", "google_dns_record_set"):
        assert rtype not in data["resource"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"google_apis_ip": "10.10.0.7"}, "must be private and outside 10.10.0.0/24"),
        ({"google_apis_ip": "10.10.1.3"}, "outside 10.10.0.0/24, 10.10.1.0/28"),
        ({"google_apis_ip": "8.8.8.8"}, "must be private"),
        ({"google_apis_ip": "nope"}, "is not an address"),
        ({"google_apis_ip": "10.10.255.2", "attachment_cidr": None}, "set attachment_cidr"),
        ({"vertex_project_number": "123"}, "needs google_apis_ip"),
    ],
)
def test_network_refuses_an_endpoint_it_cannot_build(changes: dict[str, Any], message: str) -> None:
    props = NetworkProps(project_id=PROJECT, region=REGION, name="b2brec", labels=LABELS, **changes)
    with pytest.raises(PropsError, match=re.escape(message)):
        synth_construct(lambda s: Network(s, "n", props))
