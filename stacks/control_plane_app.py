"""What the control plane *app* needs on GCP, beside the control plane stack's shell:

* a Cloud SQL PostgreSQL database (private IP, IAM login for the app's service account);
* a Memorystore for Redis instance, the Celery broker of the app and its worker (TLS, AUTH string in a
  secret only the app's account reads);
* Secret Manager containers for its Flask key and SMTP password (values added out of band);
* Identity-Aware Proxy directly on its Cloud Run service, operators as IAP-secured users, and
  the IAP service agent allowed to invoke it; the app verifies the IAP JWT (audience below);
* a metrics scope over every client project, so one Monitoring workspace sees the fleet;
* a BigQuery view over the billing export: daily net cost per client, project and service.

Kept apart from ``stacks/control_plane.py`` (the platform's shell) so the two evolve separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from cdktn_provider_google.bigquery_table import BigqueryTable, BigqueryTableView
from cdktn_provider_google.cloud_run_v2_service_iam_member import CloudRunV2ServiceIamMember
from cdktn_provider_google.iap_web_cloud_run_service_iam_member import IapWebCloudRunServiceIamMember
from cdktn_provider_google.monitoring_monitored_project import MonitoringMonitoredProject
from constructs import Construct

from b2brec.billing_export import cost_by_client_day, export_table
from modules.base import PROTECTED, key
from modules.cloud_run import CLOUD_SQL_PROXY_PORT, CloudRunService
from modules.cloud_sql import CloudSqlPostgres, CloudSqlProps, iam_user_name
from modules.memorystore import Memorystore, MemorystoreProps
from modules.secrets import Secrets, SecretSpec, SecretsProps

SERVICE = "control-plane"
DATABASE = "control_plane"
SECRET_KEY = "control-plane-secret-key"
SMTP_PASSWORD = "control-plane-smtp-password"
COST_VIEW = "client_costs_daily"
BROKER_AUTH_SECRET = "control-plane-broker-auth"
WORKER = "control-plane-worker"
WORKER_COMMAND: tuple[str, ...] = ("python", "-m", "control_plane.manage", "control-plane", "worker")
"""The control plane's Celery worker with beat (rollout ticks, fleet polls), from the control-plane image."""


@dataclass(frozen=True, kw_only=True)
class ControlPlaneAppProps:
    project_id: str
    region: str
    labels: dict[str, str]
    network: str
    """Self link / id of the VPC the database's private IP lives in."""
    service_account: str
    """Email of the control plane's service account (database user, secret accessor)."""
    billing_account: str
    billing_dataset: str
    operators: tuple[str, ...] = ()
    """IAM members allowed through IAP (group:platform-ops@…)."""
    client_projects: tuple[str, ...] = ()
    """Client project ids added to the control plane's metrics scope."""
    broker_tier: str = "STANDARD_HA"
    """Memorystore tier of the Celery broker (BASIC or STANDARD_HA)."""
    extra_env: dict[str, str] = field(default_factory=dict)


def proxy_database_url(email: str, database: str) -> str:
    """SQLAlchemy URL through the Auth Proxy sidecar on 127.0.0.1: the service account's IAM database user."""
    return f"postgresql+psycopg://{quote(iam_user_name(email), safe='')}@127.0.0.1:{CLOUD_SQL_PROXY_PORT}/{database}"


def iap_audience(project_number: str, region: str, service: str = SERVICE) -> str:
    """The ``aud`` claim IAP puts in its JWT for a Cloud Run service it fronts directly."""
    return f"/projects/{project_number}/locations/{region}/services/{service}"


class ControlPlaneApp(Construct):
    def __init__(self, scope: Construct, id_: str, props: ControlPlaneAppProps) -> None:
        super().__init__(scope, id_)
        member = f"serviceAccount:{props.service_account}"
        self.sql = CloudSqlPostgres(
            self,
            "sql",
            CloudSqlProps(
                project_id=props.project_id,
                region=props.region,
                name=SERVICE,
                labels=props.labels,
                private_network=props.network,
                databases=(DATABASE,),
                iam_users={SERVICE: props.service_account},
            ),
        )
        self.broker = Memorystore(
            self,
            "broker",
            MemorystoreProps(
                project_id=props.project_id,
                region=props.region,
                name=f"{SERVICE}-broker",
                labels=props.labels,
                network=props.network,
                auth_secret_id=BROKER_AUTH_SECRET,
                readers=(member,),
                tier=props.broker_tier,
            ),
        )
        reader = {"roles/secretmanager.secretAccessor": [member]}
        Secrets(
            self,
            "secrets",
            SecretsProps(
                project_id=props.project_id,
                region=props.region,
                labels=props.labels,
                secrets={
                    # the app stores a random key on first start when the secret has no version yet
                    SECRET_KEY: SecretSpec(
                        description="Flask SECRET_KEY of the control plane.",
                        iam={**reader, "roles/secretmanager.secretVersionAdder": [member]},
                    ),
                    SMTP_PASSWORD: SecretSpec(description="SMTP password for alert emails.", iam=reader),
                },
            ),
        )
        for project in sorted(set(props.client_projects)):
            MonitoringMonitoredProject(
                self,
                key("monitored", project),
                metrics_scope=f"locations/global/metricsScopes/{props.project_id}",
                name=project,
            )
        table = export_table(props.project_id, props.billing_dataset, props.billing_account)
        self.billing_export_table = table
        BigqueryTable(
            self,
            "cost_view",
            project=props.project_id,
            dataset_id=props.billing_dataset,
            table_id=COST_VIEW,
            labels=props.labels,
            deletion_protection=True,
            deletion_policy="PREVENT",
            lifecycle=PROTECTED,
            view=BigqueryTableView(query=cost_by_client_day(table), use_legacy_sql=False),
        )

    def env(self, project_number: str, region: str, service_account: str) -> dict[str, str]:
        """Settings the app and its worker read on GCP (``B2BREC_CP_*``, ``B2BREC_BROKER_*``). The app reads its
        key from Secret Manager at start (storing one on first start); the only injected secret is the broker's
        AUTH string (``secret_env``), whose version Terraform writes with the instance."""
        return {
            "B2BREC_CP_LOCAL_DEV": "0",
            "B2BREC_CP_IAP_AUDIENCE": iap_audience(project_number, region),
            # the database through the Cloud SQL Auth Proxy sidecar (IAM login, no password)
            "B2BREC_CP_DATABASE_URL": proxy_database_url(service_account, DATABASE),
            # the billing pages read the Cloud Billing export itself (the view is for people in the console)
            "B2BREC_CP_BILLING_EXPORT_TABLE": self.billing_export_table,
            **self.broker.env(),
        }

    def secret_env(self) -> dict[str, str]:
        return self.broker.secret_env()

    def protect_with_iap(
        self, service: CloudRunService, *, project_id: str, region: str, project_number: str, operators: tuple[str, ...]
    ) -> None:
        """IAP on the Cloud Run service itself (no load balancer): only operators get through."""
        service.service.add_override("iap_enabled", True)
        service.service.add_override("launch_stage", "BETA")
        for operator in sorted(operators):
            IapWebCloudRunServiceIamMember(
                self,
                key("iap_user", operator),
                project=project_id,
                location=region,
                cloud_run_service_name=SERVICE,
                role="roles/iap.httpsResourceAccessor",
                member=operator,
            )
        CloudRunV2ServiceIamMember(
            self,
            "iap_invoker",
            project=project_id,
            location=region,
            name=SERVICE,
            role="roles/run.invoker",
            member=f"serviceAccount:service-{project_number}@gcp-sa-iap.iam.gserviceaccount.com",
        )
