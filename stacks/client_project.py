"""The client project stack: everything one client runs on, built from its ClientSpec alone."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from cdktn import TerraformOutput
from cdktn_provider_google.cloud_run_domain_mapping import (
    CloudRunDomainMapping,
    CloudRunDomainMappingMetadata,
    CloudRunDomainMappingSpec,
)
from cdktn_provider_google.data_google_active_folder import DataGoogleActiveFolder
from constructs import Construct

from b2brec import naming
from b2brec.backends.cloud_run_jobs import ETL_JOB_CPU, ETL_JOB_MEMORY
from b2brec.spec import SPEC_ENV, ClientSpec
from b2brec.spec.infra import ServiceScaling
from modules.artifact_registry import ArtifactRegistry, RegistryProps
from modules.base import PropsError, reference, tf_literal
from modules.bigquery import PREDICTION_TABLES, RAW_TABLES, BigQueryDataset, DatasetProps
from modules.bucket import DEFAULT_TIERS, Bucket, BucketProps, TierRule
from modules.budget import Budget, BudgetProps
from modules.cloud_run import CLOUD_SQL_PROXY_PORT, CloudRunService, CloudRunServiceProps, Egress
from modules.cloud_run_job import LauncherRole, ScheduledJob, ScheduledJobProps
from modules.cloud_run_worker_pool import CloudRunWorkerPool, CloudRunWorkerPoolProps
from modules.cloud_sql import CloudSqlPostgres, CloudSqlProps, iam_user_name
from modules.memorystore import Memorystore, MemorystoreProps
from modules.monitoring import Monitoring, MonitoringProps, UptimeTarget
from modules.network import Network, NetworkProps
from modules.project import Project, ProjectProps
from modules.schedules import Schedules, SchedulesProps, retrain_audience
from modules.secrets import Secrets, SecretSpec, SecretsProps
from modules.service_accounts import ServiceAccounts, ServiceAccountSpec, ServiceAccountsProps, service_account_email
from modules.snapshots import SnapshotsProps, TableSnapshots
from stacks.base import PlatformStack, add_dependencies
from stacks.client_iam import (
    BUCKET_ROLES,
    COMPONENTS,
    DATASET_ROLES,
    ETL_LAUNCHER_PERMISSIONS,
    ETL_LAUNCHER_ROLE_ID,
    PROJECT_ROLES,
    PUBLIC_SERVICES,
    SCHEDULE_EDITOR_PERMISSIONS,
    SCHEDULE_EDITOR_ROLE_ID,
    SERVICE_INVOKERS,
    conditional_roles,
    grants,
)
from stacks.platform import CLIENTS_FOLDER, PlatformConfig

APIS: tuple[str, ...] = (
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "bigquerydatatransfer.googleapis.com",
    "bigquerystorage.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "dns.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "redis.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicedirectory.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
)

SNAPSHOTS_DATASET = "raw_data_snapshots"
"""Where the daily snapshots of raw_data go (each expires after ``infra.snapshots_keep_days``)."""

MLFLOW_ALLOWED_HOSTS = "mlflow-*.run.app,localhost,localhost:*,127.0.0.1,127.0.0.1:*"
"""Host headers the MLflow server accepts: its run.app URL (both URL forms) and Cloud Run's probes."""


def database_url(email: str, database: str) -> str:
    """The SQLAlchemy URL a service with the Auth Proxy sidecar uses: its IAM database user on
    127.0.0.1, no password (the proxy logs in with the service account's token)."""
    user = quote(iam_user_name(email), safe="")
    return f"postgresql+psycopg://{user}@127.0.0.1:{CLOUD_SQL_PROXY_PORT}/{database}"


DOMAIN_MAPPING_REGIONS: frozenset[str] = frozenset(
    {
        "asia-east1", "asia-northeast1", "asia-southeast1", "europe-north1", "europe-west1", "europe-west4",
        "us-central1", "us-east1", "us-east4", "us-west1",
    }
)  # fmt: skip
"""Regions where Cloud Run domain mappings exist; elsewhere the app keeps its run.app URL (docs/infra.md)."""


def app_domain(spec: ClientSpec, platform: PlatformConfig) -> str | None:
    """The client app's own host name: ``{client}.{platform domain}`` for prod, ``{client}-{env}.…``
    otherwise; None when the platform has no domain."""
    if not platform.domain or spec.region not in DOMAIN_MAPPING_REGIONS:
        return None
    label = spec.client_id if spec.env == "prod" else f"{spec.client_id}-{spec.env}"
    return f"{label}.{platform.domain}"


def training_env(spec: ClientSpec) -> dict[str, str]:
    """How the client app submits Vertex AI jobs (``B2BREC_VERTEX_*`` of b2brec.settings), from ``infra.training``."""
    training = spec.infra.training
    env = {
        "B2BREC_VERTEX_MACHINE_TYPE": training.machine_type,
        "B2BREC_VERTEX_ACCELERATOR_COUNT": str(training.accelerator_count),
        "B2BREC_VERTEX_SPOT": "true" if training.spot else "false",
    }
    if training.accelerator_type:
        env["B2BREC_VERTEX_ACCELERATOR_TYPE"] = training.accelerator_type
    return env


def trainer_image_name(spec: ClientSpec) -> str:
    """The image Vertex AI jobs run: ``trainer-gpu`` (TensorFlow with CUDA) when the environment asks for a
    GPU, else ``trainer`` (tensorflow-cpu), so a GPU never sits idle and a CPU job ships no CUDA."""
    return "trainer-gpu" if spec.infra.training.accelerator_type else "trainer"


def trainer_image(registry_url: str, spec: ClientSpec, images: Mapping[str, str] | None) -> str:
    """The image Vertex AI jobs run (``trainer_image_name``), pinned by the template version's digest for
    that image: a bare ``sha256:…`` is pulled from the client's registry (``{registry}/trainer@sha256:…``),
    a ``repo@sha256:…`` from that repository. Unpinned, when the stack is synthesized without a version's
    images (``b2brec synth``/``deploy`` of a checkout) or the version pins no such image: the tag named
    after the spec's ``template_version`` (``{registry}/trainer:1.0.0``), which the operator pushes."""
    name = trainer_image_name(spec)
    digest = (images or {}).get(name)
    if digest is None:
        return f"{registry_url}/{name}:{tf_literal(spec.template_version)}"
    return digest if "@" in digest else f"{registry_url}/{name}@{digest}"


BROKER_AUTH_SECRET = "broker-auth"
"""Secret holding the Memorystore AUTH string (Terraform writes it; only the client app's account reads it)."""

CLIENT_APP_WORKER = "client-app-worker"
CLIENT_APP_WORKER_COMMAND: tuple[str, ...] = (
    "celery", "-A", "client_app.worker:celery_app", "worker", "--beat", "--schedule=/tmp/celerybeat-schedule",
    "--pool=threads", "--concurrency=2", "--loglevel=INFO", "--without-gossip", "--without-mingle",
)  # fmt: skip
"""The client app's Celery worker with beat embedded (one instance, so the schedule ticks exactly once),
run from the client-app image in a Cloud Run worker pool."""

LIVENESS_PATHS = {"client-app": "/healthz", "mlflow": "/health", "serving": "/health/live"}
MODEL_TIERS = {
    "models-nearline": TierRule(storage_class="NEARLINE", age_days=30, prefixes=("models/",)),
    "models-coldline": TierRule(storage_class="COLDLINE", age_days=180, prefixes=("models/",)),
    "old-versions-coldline": TierRule(storage_class="COLDLINE", age_days=30, noncurrent_only=True),
}
"""Model versions older than 30 days move to Nearline, after 180 days to Coldline (rollbacks are rare)."""


class ClientProjectStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        spec: ClientSpec,
        platform: PlatformConfig,
        images: Mapping[str, str] | None = None,
    ) -> None:
        """``images``: the template version's image digests (``TemplateVersion.images``) the stack pins;
        None when synthesizing a checkout without a version (see ``trainer_image``)."""
        project_id, region = spec.project_id, spec.region
        if spec.env == "prod" and not spec.infra.alert_emails:
            raise PropsError(
                f"environment {spec.client_id} ({spec.env}): a prod environment must name who gets its alerts; "
                "set infra.alert_emails (e.g. ops: platform-ops@example.com)"
            )
        super().__init__(scope, id_, platform=platform, project=project_id, region=region)
        labels = spec.all_labels
        billing = spec.billing_account or platform.billing_account
        folder_id = spec.infra.folder_id or self._clients_folder(platform)

        self.project = Project(
            self,
            "project",
            ProjectProps(
                project_id=project_id,
                name=spec.name,
                billing_account=billing,
                folder_id=folder_id,
                labels=labels,
                services=APIS,
            ),
        )
        emails = {name: service_account_email(project_id, name) for name in COMPONENTS}
        members = {name: f"serviceAccount:{email}" for name, email in emails.items()}
        ServiceAccounts(
            self,
            "service_accounts",
            ServiceAccountsProps(
                project_id=project_id,
                accounts={
                    name: ServiceAccountSpec(
                        description=COMPONENTS[name],
                        project_roles=PROJECT_ROLES[name],
                        conditional_project_roles=conditional_roles(name, self.project.number),
                        # The client app launches Vertex AI jobs that run as the trainer, and reschedules the
                        # scheduler jobs whose tokens are the scheduler account's (client_iam.SCHEDULE_EDITOR_*).
                        iam={"roles/iam.serviceAccountUser": [members["client-app"]]}
                        if name in ("trainer", "scheduler")
                        else {},
                    )
                    for name in COMPONENTS
                },
            ),
        )

        # The PSC endpoint, private run.app zone and DNS peer grant let Vertex AI jobs reach MLflow (docs/infra.md).
        network = Network(
            self,
            "network",
            NetworkProps(
                project_id=project_id,
                region=region,
                name="b2brec",
                labels=labels,
                google_apis_ip="10.10.255.2",  # outside both subnets
                vertex_project_number=self.project.number,
            ),
        )
        egress = Egress(network=network.vpc.id, subnetwork=network.subnet.id)

        for purpose in naming.BUCKET_PURPOSES:
            Bucket(
                self,
                f"bucket_{purpose}",
                BucketProps(
                    project_id=project_id,
                    region=region,
                    name=spec.bucket(purpose),
                    labels=labels,
                    iam=grants(BUCKET_ROLES[purpose], members),
                    tiers=MODEL_TIERS if purpose == "models" else dict(DEFAULT_TIERS),
                ),
            )
        tables = {"raw_data": RAW_TABLES, "predictions": PREDICTION_TABLES}
        datasets: dict[str, BigQueryDataset] = {}
        for dataset in (*naming.DATASETS, naming.ETL_STAGING_DATASET, SNAPSHOTS_DATASET):
            datasets[dataset] = BigQueryDataset(
                self,
                f"dataset_{dataset}",
                DatasetProps(
                    project_id=project_id,
                    region=region,
                    dataset_id=dataset,
                    labels=labels,
                    description=tf_literal(
                        f"ETL staging (scratch) of {spec.name} ({spec.env})."
                        if dataset == naming.ETL_STAGING_DATASET
                        else f"{dataset} of {spec.name} ({spec.env})."
                    ),
                    tables=tables.get(dataset, {}),
                    iam=grants(DATASET_ROLES[dataset], members),
                ),
            )
        snapshots = TableSnapshots(
            self,
            "snapshots",
            SnapshotsProps(
                project_id=project_id,
                region=region,
                source="raw_data",
                target=SNAPSHOTS_DATASET,
                service_account=emails["backup"],
                keep_days=spec.infra.snapshots_keep_days,
            ),
        )
        add_dependencies(snapshots.transfer, [datasets["raw_data"].dataset, datasets[SNAPSHOTS_DATASET].dataset])
        self._secrets(spec, members, labels)
        registry = ArtifactRegistry(
            self,
            "registry",
            RegistryProps(
                project_id=project_id,
                region=region,
                name="b2brec",
                labels=labels,
                iam={"roles/artifactregistry.reader": sorted(members.values())},
            ),
        )
        sql = CloudSqlPostgres(
            self,
            "sql",
            CloudSqlProps(
                project_id=project_id,
                region=region,
                name="b2brec-pg",
                labels=labels,
                private_network=network.vpc.id,
                databases=("app", "mlflow"),
                iam_users={"client-app": emails["client-app"], "mlflow": emails["mlflow"]},
                tier=spec.infra.sql.tier,
                availability=spec.infra.sql.availability,
                disk_gb=spec.infra.sql.disk_gb,
                backup_start=spec.infra.sql.backup_start,
            ),
        )
        add_dependencies(sql.instance, [network.private_services])
        # The Celery broker of the client app and its worker: reached on its private IP through the same
        # peering (private services access) as Cloud SQL, by the Direct VPC egress every workload uses.
        broker = Memorystore(
            self,
            "broker",
            MemorystoreProps(
                project_id=project_id,
                region=region,
                name="b2brec-broker",
                labels=labels,
                network=network.vpc.id,
                auth_secret_id=BROKER_AUTH_SECRET,
                readers=(members["client-app"],),
                tier=spec.infra.redis.resolved_tier(spec.env),
                memory_gb=spec.infra.redis.memory_gb,
            ),
        )
        add_dependencies(broker.instance, [network.private_services])

        # What every deployable reads (b2brec.settings.Settings): the backend and the client's spec, escaped
        # so that no string of the spec is read as a Terraform interpolation.
        base_env = {"B2BREC_BACKEND": "gcp", SPEC_ENV: tf_literal(spec.model_dump_json())}
        # The operator's allow-list for this client's sources (platform.yaml, never the spec): read by the ETL job
        # and the client app's connection test, so a VPN database passes both or neither.
        hosts_env = platform.hosts_env(spec.client_id)
        scaling = spec.infra.scaling
        mlflow = self._service(
            spec, "mlflow", emails, labels, egress, scaling.mlflow,
            # images/mlflow-entrypoint.sh reads these; the database is reached through the Auth Proxy sidecar.
            env={"MLFLOW_BACKEND_STORE_URI": database_url(emails["mlflow"], "mlflow"),
                 "MLFLOW_ARTIFACTS_DESTINATION": f"gs://{spec.bucket('mlflow')}",
                 # MLflow 3 refuses Host headers outside localhost/private IPs; its callers use the run.app URL.
                 "MLFLOW_SERVER_ALLOWED_HOSTS": MLFLOW_ALLOWED_HOSTS},
            cloud_sql=sql.connection_name,
        )  # fmt: skip
        # What the web app and its worker both read: the same settings, database and broker.
        trainer = trainer_image(registry.url, spec, images)
        app_env = {**base_env, "B2BREC_DATABASE_URL": database_url(emails["client-app"], "app"),
                   "B2BREC_GCP_STAGING_BUCKET": f"gs://{spec.bucket('staging')}",
                   "B2BREC_VERTEX_SERVICE_ACCOUNT": reference(self, emails["trainer"]),
                   "B2BREC_TRAINER_IMAGE": trainer,
                   "B2BREC_MLFLOW_URI": mlflow.uri, **training_env(spec),
                   # the retraining check accepts only the scheduler account's OIDC token for this audience
                   "B2BREC_APP_SCHEDULER_INVOKER": reference(self, emails["scheduler"]),
                   "B2BREC_APP_SCHEDULER_AUDIENCE": retrain_audience(project_id),
                   # jobs join the VPC through its attachment and peer run.app. with it: they reach MLflow
                   **network.vertex_env(),
                   **hosts_env, **broker.env()}  # fmt: skip
        client_app = self._service(
            spec, "client-app", emails, labels, egress, scaling.client_app,
            # The app reads its own secrets (and generates its SECRET_KEY on first start) through the secrets
            # backend at run time. The one injected secret is the broker's AUTH string, whose version Terraform
            # writes with the instance (the service waits for it), so the first revision finds it.
            env=app_env, secret_env=broker.secret_env(), cloud_sql=sql.connection_name,
        )  # fmt: skip
        worker = CloudRunWorkerPool(
            self,
            "run_client_app_worker",
            CloudRunWorkerPoolProps(
                project_id=project_id,
                region=region,
                name=CLIENT_APP_WORKER,
                service_account=emails["client-app"],
                labels=labels,
                egress=egress,
                command=CLIENT_APP_WORKER_COMMAND,
                instances=1,
                cpu=scaling.client_app.cpu,
                memory=scaling.client_app.memory,
                env=app_env,
                secret_env=broker.secret_env(),
                cloud_sql=sql.connection_name,
            ),
        )
        domain = app_domain(spec, platform)
        if domain:
            # {client}.{platform domain} with a Google-managed certificate (issued once DNS points at Cloud Run:
            # the `client_app_dns` output lists the records; runbook step 4).
            mapping = CloudRunDomainMapping(
                self,
                "client_app_domain_mapping",
                project=project_id,
                location=region,
                name=domain,
                metadata=CloudRunDomainMappingMetadata(namespace=project_id, labels=labels),
                spec=CloudRunDomainMappingSpec(route_name=client_app.service.name, certificate_mode="AUTOMATIC"),
            )
            TerraformOutput(self, "client_app_domain", value=f"https://{domain}")
            TerraformOutput(self, "client_app_dns", value=mapping.status.get(0).resource_records)
        serving = self._service(
            spec, "serving", emails, labels, egress, scaling.serving,
            # `python -m serving` reads its client's spec; models come from the client's models bucket; the API
            # keys and the admin token are read from Secret Manager at run time and re-read every minute
            # (serving/credentials.py), so keys rotate without a new revision and the service starts before
            # the secrets have values.
            env={**base_env, "MLFLOW_TRACKING_URI": mlflow.uri},
        )  # fmt: skip
        for resource in (mlflow.service, client_app.service, worker.pool):
            add_dependencies(resource, [sql.instance, *sql.databases.values(), *sql.users.values()])
        for resource in (client_app.service, worker.pool):
            add_dependencies(resource, [broker.auth_version])

        ScheduledJob(
            self,
            "etl",
            ScheduledJobProps(
                project_id=project_id,
                region=region,
                name="etl",
                service_account=emails["etl-runner"],
                cpu=ETL_JOB_CPU,
                memory=ETL_JOB_MEMORY,
                scheduler_service_account=emails["scheduler"],
                labels=labels,
                egress=egress,
                schedule=spec.etl.schedule,
                time_zone=tf_literal(spec.etl.timezone),
                # The job's entrypoint (python -m b2brec.etl) reads its ClientSpec from here; it holds no secret.
                env={**base_env, **hosts_env},
                # No secret env: the job reads source passwords from Secret Manager at run time
                # (etl-runner holds secretAccessor on each), so none sits in its environment.
                # the app's "Run now" runs this job with the run's id and spec as overrides and follows it
                launcher=LauncherRole(
                    role_id=ETL_LAUNCHER_ROLE_ID,
                    title="b2brec ETL launcher",
                    permissions=ETL_LAUNCHER_PERMISSIONS,
                    members=(members["client-app"],),
                ),
            ),
        )
        Schedules(
            self,
            "schedules",
            SchedulesProps(
                project_id=project_id,
                region=region,
                app_url=client_app.uri,
                scheduler_service_account=emails["scheduler"],
                editor_member=members["client-app"],
                role_id=SCHEDULE_EDITOR_ROLE_ID,
                permissions=SCHEDULE_EDITOR_PERMISSIONS,
                retrain_schedule=spec.training.retrain_schedule,
            ),
        )
        monitoring = Monitoring(
            self,
            "monitoring",
            MonitoringProps(
                project_id=project_id,
                labels=labels,
                emails={name: tf_literal(email) for name, email in spec.infra.alert_emails.items()},
                uptime={
                    "client-app": UptimeTarget(url=client_app.uri, path=LIVENESS_PATHS["client-app"]),
                    "serving": UptimeTarget(url=serving.uri, path=LIVENESS_PATHS["serving"]),
                },
                error_rate_services=("client-app", "mlflow", "serving"),
                nightly_jobs=("etl",),
                training_jobs=True,
                sql_instance="b2brec-pg",
                nat_gateway=network.nat.name,
            ),
        )
        Budget(
            self,
            "budget",
            BudgetProps(
                billing_account=billing,
                display_name=f"{project_id} monthly",
                project_number=self.project.number,
                amount=spec.infra.budget.amount,
                currency=spec.infra.budget.currency,
                thresholds=spec.infra.budget.thresholds,
                notification_channels=tuple(monitoring.channel_ids),
            ),
        )
        self.depend_on_apis(self.project.services, skip=self.project)
        TerraformOutput(self, "project_id", value=project_id)
        TerraformOutput(self, "region", value=region)
        TerraformOutput(
            self, "egress_ip", value=network.egress_ip, description="Static IP every outbound connection uses."
        )
        TerraformOutput(self, "client_app_url", value=client_app.uri)
        TerraformOutput(self, "serving_url", value=serving.uri)
        TerraformOutput(self, "registry_url", value=registry.url)
        # what the runbook's first deploy builds and fills (docs/runbook.md): the images' tag, the trainer image
        # the client app submits to Vertex AI, and the secrets of the spec's source passwords
        TerraformOutput(self, "image_tag", value=tf_literal(spec.template_version))
        TerraformOutput(self, "trainer_image", value=trainer)
        TerraformOutput(self, "source_secrets", value=" ".join(s for _, s in self._source_secrets(spec)))

    def _clients_folder(self, platform: PlatformConfig) -> str:
        folder = DataGoogleActiveFolder(self, "clients_folder", display_name=CLIENTS_FOLDER, parent=platform.org)
        return folder.name

    @staticmethod
    def _source_secrets(spec: ClientSpec) -> list[tuple[str, str]]:
        return sorted((name, src.password_secret) for name, src in spec.sources.items() if src.password_secret)

    def _secrets(self, spec: ClientSpec, members: dict[str, str], labels: dict[str, str]) -> Secrets:
        accessor = "roles/secretmanager.secretAccessor"
        secrets = {
            "client-app-secret-key": SecretSpec(
                # the app generates it on first start when the secret has no version yet (no value in Terraform)
                description="Flask SECRET_KEY of the client app.",
                iam={
                    accessor: [members["client-app"]],
                    "roles/secretmanager.secretVersionAdder": [members["client-app"]],
                },
            ),
            "serving-api-keys": SecretSpec(
                description="API keys the serving API accepts (managed in the client app).",
                iam={
                    accessor: [members["serving"]],
                    "roles/secretmanager.secretVersionManager": [members["client-app"]],
                },
            ),
            "serving-admin-token": SecretSpec(
                description="Bearer token of the serving API's /admin (deploy, rollback), used by the deploy tool.",
                iam={accessor: [members["serving"]]},
            ),
        }
        for source, secret_id in self._source_secrets(spec):
            if secret_id in secrets:
                raise PropsError(f"sources.{source}.password_secret {secret_id!r} clashes with a platform secret")
            secrets[secret_id] = SecretSpec(
                description=tf_literal(f"Password of source {source!r}."),
                # the ETL reads it; the client app tests the connection and stores a changed password
                iam={
                    accessor: sorted([members["etl-runner"], members["client-app"]]),
                    "roles/secretmanager.secretVersionAdder": [members["client-app"]],
                },
            )
        return Secrets(
            self,
            "secrets",
            SecretsProps(project_id=spec.project_id, region=spec.region, labels=labels, secrets=secrets),
        )

    def _service(
        self,
        spec: ClientSpec,
        name: str,
        emails: dict[str, str],
        labels: dict[str, str],
        egress: Egress,
        scaling: ServiceScaling,
        *,
        env: dict[str, str],
        secret_env: dict[str, str] | None = None,
        cloud_sql: str | None = None,
    ) -> CloudRunService:
        invokers = [m if m == "allUsers" else f"serviceAccount:{emails[m]}" for m in SERVICE_INVOKERS[name]]
        return CloudRunService(
            self,
            f"run_{name.replace('-', '_')}",
            CloudRunServiceProps(
                project_id=spec.project_id,
                region=spec.region,
                name=name,
                service_account=emails[name],
                labels=labels,
                egress=egress,
                min_instances=scaling.min_instances,
                max_instances=scaling.max_instances,
                cpu=scaling.cpu,
                memory=scaling.memory,
                liveness_path=LIVENESS_PATHS[name],
                ingress="all" if name in PUBLIC_SERVICES else "internal",
                env=env,
                secret_env=secret_env or {},
                cloud_sql=cloud_sql,
                iam={"roles/run.invoker": sorted(invokers)},
                allow_public=name in PUBLIC_SERVICES,
            ),
        )
