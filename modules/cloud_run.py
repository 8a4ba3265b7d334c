"""Cloud Run service: the shell, its identity, scaling, probes, networking and IAM.

Revisions, the running image and traffic split belong to the deploy/rollout tool, so they are
in ``ignore_changes``: an apply never fights a canary. ``image`` is only the first revision's.
All egress goes through the VPC (Direct VPC egress, ``ALL_TRAFFIC``), so it leaves by the NAT's
static IP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.cloud_run_v2_service import (
    CloudRunV2Service,
    CloudRunV2ServiceTemplate,
    CloudRunV2ServiceTemplateContainers,
    CloudRunV2ServiceTemplateContainersEnv,
    CloudRunV2ServiceTemplateContainersEnvValueSource,
    CloudRunV2ServiceTemplateContainersEnvValueSourceSecretKeyRef,
    CloudRunV2ServiceTemplateContainersLivenessProbe,
    CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet,
    CloudRunV2ServiceTemplateContainersPorts,
    CloudRunV2ServiceTemplateContainersResources,
    CloudRunV2ServiceTemplateContainersStartupProbe,
    CloudRunV2ServiceTemplateContainersStartupProbeHttpGet,
    CloudRunV2ServiceTemplateContainersStartupProbeTcpSocket,
    CloudRunV2ServiceTemplateScaling,
    CloudRunV2ServiceTemplateVpcAccess,
    CloudRunV2ServiceTemplateVpcAccessNetworkInterfaces,
)
from cdktn_provider_google.cloud_run_v2_service_iam_member import CloudRunV2ServiceIamMember
from constructs import Construct

from modules.base import (
    PropsError,
    bind_members,
    reference,
    require_iam,
    require_labels,
    require_name,
    require_project,
    require_region,
)

PLACEHOLDER_IMAGE = "us-docker.pkg.dev/cloudrun/container/hello"
"""First revision's image until the deploy tool rolls out the platform's release (Terraform then ignores it)."""

DEPLOY_TOOL_OWNED: tuple[str, ...] = (
    "client",
    "client_version",
    "traffic",
    "template[0].revision",
    "template[0].labels",
    "template[0].containers[0].image",
)
"""Fields the deploy tool changes on each rollout; Terraform leaves them alone."""

INGRESS = {"all": "INGRESS_TRAFFIC_ALL", "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY"}

CLOUD_SQL_PROXY_IMAGE = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1"
"""The Cloud SQL Auth Proxy (v2) sidecar: mTLS to the instance and IAM database login for the service's account."""
CLOUD_SQL_PROXY = "cloud-sql-proxy"
"""Name of the sidecar container (the service's container waits for it to be healthy)."""
CLOUD_SQL_PROXY_PORT = 5432
"""Where the sidecar listens inside the instance (127.0.0.1): the service's database URL points here."""
_PROXY_HEALTH_PORT = 9801


def container_env(
    env_type: Callable[..., Any],
    value_source_type: Callable[..., Any],
    secret_ref_type: Callable[..., Any],
    env: Mapping[str, str],
    secret_env: Mapping[str, str],
) -> list[Any]:
    """A container's env list, sorted: plain values, then values from the latest version of a
    secret. The three types are the service's or the job's generated env classes (same shape)."""
    plain = [env_type(name=k, value=env[k]) for k in sorted(env)]
    from_secrets = [
        env_type(
            name=k,
            value_source=value_source_type(secret_key_ref=secret_ref_type(secret=secret_env[k], version="latest")),
        )
        for k in sorted(secret_env)
    ]
    return plain + from_secrets


@dataclass(frozen=True, kw_only=True)
class Egress:
    """Direct VPC egress: every outbound connection goes through this subnet (and its NAT)."""

    network: str
    subnetwork: str


@dataclass(frozen=True, kw_only=True)
class CloudRunServiceProps:
    project_id: str
    region: str
    name: str
    service_account: str
    """Email of the identity the service runs as (never the default compute account)."""
    labels: dict[str, str]
    egress: Egress
    image: str = PLACEHOLDER_IMAGE
    port: int = 8080
    min_instances: int = 0
    max_instances: int = 3
    cpu: str = "1"
    memory: str = "512Mi"
    liveness_path: str = "/healthz"
    """HTTP path the liveness probe GETs; start-up is a TCP probe on ``port``."""
    ingress: str = "all"
    """``all`` (public endpoint, IAM still applies) or ``internal`` (VPC and same-project only)."""
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)
    """Environment variable -> Secret Manager secret id (latest version, resolved at start)."""
    iam: dict[str, list[str]] = field(default_factory=dict)
    """``role -> members`` on the service, e.g. roles/run.invoker."""
    allow_public: bool = False
    """Must be True for ``allUsers`` to appear in ``iam`` (the app then does its own sign-in / API keys)."""
    cloud_sql: str | None = None
    """Connection name (``project:region:instance``) of a Cloud SQL instance: adds the Cloud SQL Auth Proxy
    as a sidecar on 127.0.0.1:5432 (private IP, IAM login as the service's account, client certificates);
    the service's container starts once the proxy is up. Unset = no database."""


class CloudRunService(Construct):
    def __init__(self, scope: Construct, id_: str, props: CloudRunServiceProps) -> None:
        super().__init__(scope, id_)
        where = f"cloud run service {props.name!r}"
        require_project(props.project_id, where)
        require_region(props.region, where)
        require_name(props.name, where)
        labels = require_labels(props.labels, where)
        iam = require_iam(props.iam, where, allow_public=props.allow_public)
        if props.ingress not in INGRESS:
            raise PropsError(f"{where}: ingress {props.ingress!r}; use one of {sorted(INGRESS)}")
        if not 0 <= props.min_instances <= props.max_instances:
            raise PropsError(
                f"{where}: min_instances {props.min_instances} must be 0..max_instances {props.max_instances}"
            )
        if not props.liveness_path.startswith("/"):
            raise PropsError(f"{where}: liveness_path {props.liveness_path!r} must start with /")
        if props.service_account.endswith("-compute@developer.gserviceaccount.com"):
            raise PropsError(f"{where}: the default compute service account is not used; pass a component account")

        env = container_env(
            CloudRunV2ServiceTemplateContainersEnv,
            CloudRunV2ServiceTemplateContainersEnvValueSource,
            CloudRunV2ServiceTemplateContainersEnvValueSourceSecretKeyRef,
            props.env,
            props.secret_env,
        )
        container = CloudRunV2ServiceTemplateContainers(
            name=props.name,
            image=props.image,
            ports=CloudRunV2ServiceTemplateContainersPorts(container_port=props.port),
            resources=CloudRunV2ServiceTemplateContainersResources(
                limits={"cpu": props.cpu, "memory": props.memory}, cpu_idle=props.min_instances == 0
            ),
            env=env or None,
            startup_probe=CloudRunV2ServiceTemplateContainersStartupProbe(
                tcp_socket=CloudRunV2ServiceTemplateContainersStartupProbeTcpSocket(port=props.port),
                period_seconds=5,
                failure_threshold=24,
            ),
            depends_on=[CLOUD_SQL_PROXY] if props.cloud_sql else None,
            liveness_probe=CloudRunV2ServiceTemplateContainersLivenessProbe(
                http_get=CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet(path=props.liveness_path),
                period_seconds=30,
                failure_threshold=3,
            ),
        )
        containers = [container]
        if props.cloud_sql:
            containers.append(cloud_sql_proxy(props.cloud_sql))
        self.service = CloudRunV2Service(
            self,
            "service",
            project=props.project_id,
            location=props.region,
            name=props.name,
            ingress=INGRESS[props.ingress],
            labels=labels,
            deletion_protection=True,
            template=CloudRunV2ServiceTemplate(
                service_account=reference(self, props.service_account),
                labels=labels,
                scaling=CloudRunV2ServiceTemplateScaling(
                    min_instance_count=props.min_instances, max_instance_count=props.max_instances
                ),
                vpc_access=CloudRunV2ServiceTemplateVpcAccess(
                    egress="ALL_TRAFFIC",
                    network_interfaces=[
                        CloudRunV2ServiceTemplateVpcAccessNetworkInterfaces(
                            network=props.egress.network, subnetwork=props.egress.subnetwork
                        )
                    ],
                ),
                containers=containers,
            ),
            lifecycle=TerraformResourceLifecycle(ignore_changes=list(DEPLOY_TOOL_OWNED)),
        )
        self.uri = self.service.uri
        bind_members(
            self,
            CloudRunV2ServiceIamMember,
            iam,
            project=props.project_id,
            location=props.region,
            name=self.service.name,
        )


def cloud_sql_proxy(
    connection_name: str,
    container_type: Callable[..., Any] = CloudRunV2ServiceTemplateContainers,
    resources_type: Callable[..., Any] = CloudRunV2ServiceTemplateContainersResources,
    probe_type: Callable[..., Any] = CloudRunV2ServiceTemplateContainersStartupProbe,
    http_get_type: Callable[..., Any] = CloudRunV2ServiceTemplateContainersStartupProbeHttpGet,
) -> Any:
    """The Auth Proxy sidecar: ``--auto-iam-authn`` logs in as the service's account (a Cloud SQL IAM
    user), so the URL the app uses holds no password; ``--private-ip`` keeps traffic in the VPC. The four
    types are the service's (default) or the worker pool's generated classes (same shape)."""
    return container_type(
        name=CLOUD_SQL_PROXY,
        image=CLOUD_SQL_PROXY_IMAGE,
        args=[
            "--private-ip",
            "--auto-iam-authn",
            "--structured-logs",
            "--health-check",
            "--http-address=0.0.0.0",
            f"--http-port={_PROXY_HEALTH_PORT}",
            "--address=127.0.0.1",
            f"--port={CLOUD_SQL_PROXY_PORT}",
            connection_name,
        ],
        resources=resources_type(limits={"cpu": "1", "memory": "256Mi"}),
        startup_probe=probe_type(
            http_get=http_get_type(path="/startup", port=_PROXY_HEALTH_PORT),
            period_seconds=2,
            failure_threshold=30,
        ),
    )
