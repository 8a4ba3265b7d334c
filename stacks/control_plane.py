"""The control plane stack: project control-plane-prod, the billing-export dataset, the Terraform
state bucket every stack uses, and the control plane service."""

from __future__ import annotations

from cdktn import TerraformOutput
from cdktn_provider_google.data_google_active_folder import DataGoogleActiveFolder
from constructs import Construct

from modules.artifact_registry import ArtifactRegistry, RegistryProps
from modules.bigquery import BigQueryDataset, DatasetProps
from modules.bucket import Bucket, BucketProps
from modules.cloud_run import CloudRunService, CloudRunServiceProps, Egress
from modules.cloud_run_worker_pool import CloudRunWorkerPool, CloudRunWorkerPoolProps
from modules.monitoring import Monitoring, MonitoringProps
from modules.network import Network, NetworkProps
from modules.project import Project, ProjectProps
from modules.service_accounts import ServiceAccounts, ServiceAccountSpec, ServiceAccountsProps, service_account_email
from stacks.base import PlatformStack, add_dependencies
from stacks.control_plane_app import WORKER, WORKER_COMMAND, ControlPlaneApp, ControlPlaneAppProps
from stacks.platform import MANAGEMENT_FOLDER, PlatformConfig

APIS: tuple[str, ...] = (
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "billingbudgets.googleapis.com",
    "cloudbilling.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "iap.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "redis.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "serviceusage.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
)
BILLING_DATASET = "billing_export"


class ControlPlaneStack(PlatformStack):
    def __init__(
        self, scope: Construct, id_: str, *, platform: PlatformConfig, client_projects: tuple[str, ...] = ()
    ) -> None:
        project_id, region = platform.control_plane_project, platform.region
        super().__init__(scope, id_, platform=platform, project=project_id, region=region)
        labels = self.platform_labels()
        folder = DataGoogleActiveFolder(self, "management_folder", display_name=MANAGEMENT_FOLDER, parent=platform.org)
        self.project = Project(
            self,
            "project",
            ProjectProps(
                project_id=project_id,
                name="b2brec control plane",
                billing_account=platform.billing_account,
                folder_id=folder.name,
                labels=labels,
                services=APIS,
            ),
        )
        # scripts/bootstrap-org.sh created the project (it holds the state bucket and the deployer):
        # the first apply adopts it and moves it under Management.
        self.project.project.import_from(project_id)
        email = service_account_email(project_id, "control-plane")
        member = f"serviceAccount:{email}"
        ServiceAccounts(
            self,
            "service_accounts",
            ServiceAccountsProps(
                project_id=project_id,
                accounts={
                    "control-plane": ServiceAccountSpec(
                        description="The control plane app: client registry, provisioning, billing, rollouts.",
                        project_roles=(
                            "roles/bigquery.jobUser",
                            "roles/logging.logWriter",
                            "roles/monitoring.metricWriter",
                        ),
                    )
                },
            ),
        )
        BigQueryDataset(
            self,
            "billing_export",
            DatasetProps(
                project_id=project_id,
                region=region,
                dataset_id=BILLING_DATASET,
                labels=labels,
                description="Cloud Billing export (configured by hand: the export has no API). Read per client.",
                iam={"roles/bigquery.dataViewer": [member]},
            ),
        )
        self.state_bucket = Bucket(
            self,
            "state_bucket",
            BucketProps(
                project_id=project_id,
                region=region,
                name=platform.state_bucket,
                labels=labels,
                iam={"roles/storage.objectAdmin": [f"serviceAccount:{platform.terraform_sa}"]},
            ),
        )
        # The bootstrap script creates the bucket (state must live somewhere before the first apply).
        self.state_bucket.bucket.import_from(platform.state_bucket)
        network = Network(
            self, "network", NetworkProps(project_id=project_id, region=region, name="control-plane", labels=labels)
        )
        registry = ArtifactRegistry(
            self,
            "registry",
            RegistryProps(
                project_id=project_id,
                region=region,
                name="images",
                labels=labels,
                iam={"roles/artifactregistry.reader": [member]},
            ),
        )
        # what the control plane app needs (database, secrets, IAP, metrics scope, billing views)
        app = ControlPlaneApp(
            self,
            "app",
            ControlPlaneAppProps(
                project_id=project_id,
                region=region,
                labels=labels,
                network=network.vpc.id,
                service_account=email,
                billing_account=platform.billing_account,
                billing_dataset=BILLING_DATASET,
                operators=tuple(platform.operators),
                client_projects=client_projects,
                broker_tier=platform.broker_tier,
            ),
        )
        # private IPs from the peering with Google's services: created after it
        add_dependencies(app.sql.instance, [network.private_services])
        add_dependencies(app.broker.instance, [network.private_services])
        project_number = self.project.number
        egress = Egress(network=network.vpc.id, subnetwork=network.subnet.id)
        app_env = {
            "B2BREC_BACKEND": "gcp",
            "B2BREC_GCP_PROJECT": project_id,
            "B2BREC_GCP_REGION": region,
            # its provisioner runs terraform as the deployer (bootstrap-org.sh --grant-control-plane)
            "B2BREC_CP_TERRAFORM_IMPERSONATE": platform.terraform_sa,
            **app.env(project_number, region, email),
            **platform.hosts_env(),  # the onboarding connection test allows what the client's ETL job will
        }
        service = CloudRunService(
            self,
            "run_control_plane",
            CloudRunServiceProps(
                project_id=project_id,
                region=region,
                name="control-plane",
                service_account=email,
                labels=labels,
                egress=egress,
                min_instances=1,
                max_instances=3,
                memory="1Gi",
                env=app_env,
                secret_env=app.secret_env(),
                cloud_sql=app.sql.connection_name,
                iam={"roles/run.invoker": sorted(platform.operators)} if platform.operators else {},
            ),
        )
        # provisioning jobs, rollout ticks and fleet polls: one worker with beat, same image, env and database
        worker = CloudRunWorkerPool(
            self,
            "run_control_plane_worker",
            CloudRunWorkerPoolProps(
                project_id=project_id,
                region=region,
                name=WORKER,
                service_account=email,
                labels=labels,
                egress=egress,
                command=WORKER_COMMAND,
                instances=1,
                memory="1Gi",
                env=app_env,
                secret_env=app.secret_env(),
                cloud_sql=app.sql.connection_name,
            ),
        )
        for resource in (service.service, worker.pool):
            add_dependencies(resource, [app.broker.auth_version])
        app.protect_with_iap(
            service, project_id=project_id, region=region, project_number=project_number, operators=platform.operators
        )
        Monitoring(
            self,
            "monitoring",
            MonitoringProps(
                project_id=project_id,
                labels=labels,
                emails=dict(platform.alert_emails),
                error_rate_services=("control-plane",),
            ),
        )
        self.depend_on_apis(self.project.services, skip=self.project)
        TerraformOutput(self, "control_plane_url", value=service.uri)
        TerraformOutput(self, "registry_url", value=registry.url)
        TerraformOutput(self, "egress_ip", value=network.egress_ip)
