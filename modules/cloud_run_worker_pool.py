"""Cloud Run worker pool: an always-on background process with no HTTP port (a Celery worker).

A Cloud Run *service* suits the apps' web side only: it must listen on ``$PORT`` and, scaled to
zero or with CPU throttled between requests, it would never consume a queue or tick a schedule.
A worker pool runs a fixed number of instances with CPU always allocated and needs no port.
Like the services, it egresses through the VPC (Direct VPC egress, ``ALL_TRAFFIC``), which is
also how it reaches Memorystore's and Cloud SQL's private IPs; with ``cloud_sql`` it runs the
Auth Proxy sidecar. The running image belongs to the deploy tool (``ignore_changes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.cloud_run_v2_worker_pool import (
    CloudRunV2WorkerPool,
    CloudRunV2WorkerPoolScaling,
    CloudRunV2WorkerPoolTemplate,
    CloudRunV2WorkerPoolTemplateContainers,
    CloudRunV2WorkerPoolTemplateContainersEnv,
    CloudRunV2WorkerPoolTemplateContainersEnvValueSource,
    CloudRunV2WorkerPoolTemplateContainersEnvValueSourceSecretKeyRef,
    CloudRunV2WorkerPoolTemplateContainersResources,
    CloudRunV2WorkerPoolTemplateContainersStartupProbe,
    CloudRunV2WorkerPoolTemplateContainersStartupProbeHttpGet,
    CloudRunV2WorkerPoolTemplateVpcAccess,
    CloudRunV2WorkerPoolTemplateVpcAccessNetworkInterfaces,
)
from constructs import Construct

from modules.base import PropsError, reference, require_labels, require_name, require_project, require_region
from modules.cloud_run import CLOUD_SQL_PROXY, PLACEHOLDER_IMAGE, Egress, cloud_sql_proxy, container_env

DEPLOY_TOOL_OWNED: tuple[str, ...] = (
    "client",
    "client_version",
    "instance_splits",
    "template[0].revision",
    "template[0].labels",
    "template[0].containers[0].image",
)
"""Fields the deploy tool changes on each rollout; Terraform leaves them alone."""


@dataclass(frozen=True, kw_only=True)
class CloudRunWorkerPoolProps:
    project_id: str
    region: str
    name: str
    service_account: str
    """Email of the identity the workers run as (never the default compute account)."""
    labels: dict[str, str]
    egress: Egress
    command: tuple[str, ...]
    """What the container runs instead of its image's ENTRYPOINT (same image as the web service)."""
    image: str = PLACEHOLDER_IMAGE
    instances: int = 1
    """Fixed instance count (manual scaling). One when the process also runs a scheduler (Celery beat)."""
    cpu: str = "1"
    memory: str = "1Gi"
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)
    """Environment variable -> Secret Manager secret id (latest version, resolved at start)."""
    cloud_sql: str | None = None
    """Connection name of a Cloud SQL instance: adds the Auth Proxy sidecar on 127.0.0.1:5432."""


class CloudRunWorkerPool(Construct):
    def __init__(self, scope: Construct, id_: str, props: CloudRunWorkerPoolProps) -> None:
        super().__init__(scope, id_)
        where = f"cloud run worker pool {props.name!r}"
        require_project(props.project_id, where)
        require_region(props.region, where)
        require_name(props.name, where)
        labels = require_labels(props.labels, where)
        if not props.command:
            raise PropsError(f"{where}: command is empty; give the process to run, e.g. a celery worker")
        if not 1 <= props.instances <= 100:
            raise PropsError(f"{where}: instances {props.instances} must be 1..100")
        if props.service_account.endswith("-compute@developer.gserviceaccount.com"):
            raise PropsError(f"{where}: the default compute service account is not used; pass a component account")

        env = container_env(
            CloudRunV2WorkerPoolTemplateContainersEnv,
            CloudRunV2WorkerPoolTemplateContainersEnvValueSource,
            CloudRunV2WorkerPoolTemplateContainersEnvValueSourceSecretKeyRef,
            props.env,
            props.secret_env,
        )
        containers = [
            CloudRunV2WorkerPoolTemplateContainers(
                name=props.name,
                image=props.image,
                command=list(props.command),
                resources=CloudRunV2WorkerPoolTemplateContainersResources(
                    limits={"cpu": props.cpu, "memory": props.memory}
                ),
                env=env or None,
                depends_on=[CLOUD_SQL_PROXY] if props.cloud_sql else None,
            )
        ]
        if props.cloud_sql:
            containers.append(
                cloud_sql_proxy(
                    props.cloud_sql,
                    CloudRunV2WorkerPoolTemplateContainers,
                    CloudRunV2WorkerPoolTemplateContainersResources,
                    CloudRunV2WorkerPoolTemplateContainersStartupProbe,
                    CloudRunV2WorkerPoolTemplateContainersStartupProbeHttpGet,
                )
            )
        self.pool = CloudRunV2WorkerPool(
            self,
            "pool",
            project=props.project_id,
            location=props.region,
            name=props.name,
            labels=labels,
            deletion_protection=False,  # stateless: the queue is in the broker, job state in the database
            scaling=CloudRunV2WorkerPoolScaling(scaling_mode="MANUAL", manual_instance_count=props.instances),
            template=CloudRunV2WorkerPoolTemplate(
                service_account=reference(self, props.service_account),
                labels=labels,
                vpc_access=CloudRunV2WorkerPoolTemplateVpcAccess(
                    egress="ALL_TRAFFIC",
                    network_interfaces=[
                        CloudRunV2WorkerPoolTemplateVpcAccessNetworkInterfaces(
                            network=props.egress.network, subnetwork=props.egress.subnetwork
                        )
                    ],
                ),
                containers=containers,
            ),
            lifecycle=TerraformResourceLifecycle(ignore_changes=list(DEPLOY_TOOL_OWNED)),
        )
