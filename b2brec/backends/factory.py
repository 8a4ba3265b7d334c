"""Pick each backend for a client from ``B2BREC_BACKEND``: one code path, two backends.

This module is the one place that branches on the backend. Everything that differs between the
embedded default and Google Cloud (where a client's spec is found, its warehouse and its URI for
jobs, the dlt destination's state folder, the machine a job runs on, the MLflow URL, whether a
public service must fail closed) is a member of :class:`ClientBackends`, so callers never ask
which backend they run on.

Backends are built lazily, one boundary at a time: a process that only needs the warehouse and the
secrets (the ETL job, the serving service) never asks for the trainer image or the staging bucket,
which only the job runner needs. A missing setting is reported when (and only when) the boundary
that needs it is first used.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from b2brec.backends.client_admin import ClientAdmin, LocalClientAdmin, cloud_client_admin, deployer_credentials
from b2brec.backends.cloud_run_jobs import ETL_JOB_MACHINE, CloudRunJobRunner
from b2brec.backends.jobs import DnsPeering, JobRunner, MachineSpec, VertexJobRunner
from b2brec.backends.schedules import BeatSchedules, CloudSchedulerJobs, ScheduleStore
from b2brec.backends.secrets import SecretManagerStore, SecretStore
from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import BigQueryWarehouse, DuckDBWarehouse, Warehouse
from b2brec.errors import B2BRecError
from b2brec.projects.local import LocalClientProject, find_project, open_project, upload_area
from b2brec.settings import Backend, Settings
from b2brec.spec import ClientSpec, find_environment


class ClientBackends:
    """The backends of one client, each created on first use and then reused."""

    def __init__(self, spec: ClientSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings

    @property
    def is_local(self) -> bool:
        return self.settings.backend is Backend.LOCAL

    @cached_property
    def local_project(self) -> LocalClientProject | None:
        """The client's local project folder (embedded default), or None on GCP."""
        return open_project(self.spec.project_id, self.settings) if self.is_local else None

    @property
    def _project(self) -> LocalClientProject:
        project = self.local_project
        assert project is not None, "only called on the local backend"
        return project

    @cached_property
    def warehouse(self) -> Warehouse:
        if self.is_local:
            return self._project.warehouse()
        return BigQueryWarehouse(self.spec.project_id, self.spec.region)

    @property
    def warehouse_uri(self) -> str:
        """The warehouse as a URI a pipeline job receives (``duckdb:///path`` or ``bigquery://project/region``)."""
        if self.is_local:
            return DuckDBWarehouse(self._project.warehouse_path).uri
        return BigQueryWarehouse(self.spec.project_id, self.spec.region).uri

    @cached_property
    def secrets(self) -> SecretStore:
        if self.is_local:
            return self._project.secrets()
        return SecretManagerStore(self.spec.project_id)

    @cached_property
    def jobs(self) -> JobRunner:
        if self.is_local:
            return self._project.jobs()
        settings = self.settings
        if not settings.trainer_image or not settings.gcp_staging_bucket:
            raise B2BRecError(
                "running pipeline jobs on backend=gcp needs B2BREC_TRAINER_IMAGE and B2BREC_GCP_STAGING_BUCKET; "
                "set both and retry",
                code="invalid_settings",
            )
        return VertexJobRunner(
            project=self.spec.project_id,
            region=self.spec.region,
            image_uri=settings.trainer_image,
            staging_bucket=settings.gcp_staging_bucket,
            service_account=settings.vertex_service_account,
            labels=self.spec.all_labels,
            spot=settings.vertex_spot,
            network_attachment=settings.vertex_network_attachment,
            dns_peering=(
                (DnsPeering(domain=settings.vertex_dns_domain, network=settings.vertex_dns_network),)
                if settings.vertex_dns_domain and settings.vertex_dns_network
                else ()
            ),
        )

    @cached_property
    def etl_jobs(self) -> JobRunner:
        """Where ETL runs execute: the project's subprocess runner locally, the client's Cloud Run
        ETL job on GCP (``b2brec.etl.jobs.submit_etl``)."""
        if self.is_local:
            return self._project.jobs()
        return CloudRunJobRunner(project=self.spec.project_id, region=self.spec.region)

    @cached_property
    def schedules(self) -> ScheduleStore:
        """The client's schedules (ETL, retraining): the app's Celery beat entries locally, the stack's
        Cloud Scheduler jobs on GCP (``b2brec.backends.schedules``)."""
        if self.is_local:
            return BeatSchedules(self._project.db_dir / "schedules.json")
        return CloudSchedulerJobs(self.spec.project_id, self.spec.region)

    @property
    def job_machine(self) -> MachineSpec:
        """The machine a pipeline stage job asks for (locally: this machine, recorded as the default)."""
        if self.is_local:
            return MachineSpec()
        return MachineSpec(
            machine_type=self.settings.vertex_machine_type,
            accelerator_type=self.settings.vertex_accelerator_type,
            accelerator_count=self.settings.vertex_accelerator_count,
        )

    @property
    def etl_machine(self) -> MachineSpec:
        """What an ETL run executes on, as recorded on its job: locally this machine (the default, like a
        stage job); on GCP one task of the client's Cloud Run ETL job with the stack's CPU and memory."""
        if self.is_local:
            return MachineSpec()
        return MachineSpec(machine_type=ETL_JOB_MACHINE)

    @property
    def storage(self) -> Callable[[str], ObjectStore]:
        """``storage(purpose)``: the client's bucket for that purpose (``data``, ``models``, ...)."""
        if self.is_local:
            return self._project.storage
        return lambda purpose: ObjectStore(f"gs://{self.spec.bucket(purpose)}")

    @property
    def etl_state_dir(self) -> Path:
        """Where dlt keeps its pipeline state. On GCP the job's disk is scratch space: dlt restores its
        state from the warehouse."""
        if self.is_local:
            return self._project.etl_dir
        return self.settings.home / "etl" / self.spec.project_id

    @property
    def mlflow_uri(self) -> str:
        """The client's MLflow tracking server: the local project's port, or ``B2BREC_MLFLOW_URI`` on GCP."""
        if self.is_local:
            return self._project.urls()["mlflow"]
        if not self.settings.mlflow_uri:
            raise B2BRecError(
                "backend=gcp needs the client's MLflow server URL; set B2BREC_MLFLOW_URI (or pass --mlflow-uri)",
                code="invalid_settings",
            )
        return self.settings.mlflow_uri

    @property
    def fail_closed(self) -> bool:
        return fails_closed(self.settings)

    def service_port(self, service: str) -> int | None:
        """The port a client's service listens on locally (from the project), or None (the platform's choice)."""
        return self._project.ports.get(service) if self.is_local else None

    def service_url(self, service: str) -> str | None:
        """Where a client's service (``serving``, ``mlflow``, ``client_app``) answers locally, or None where
        the deployment configures it (GCP: the stack passes the Cloud Run URL to whoever calls it)."""
        return self._project.urls().get(service) if self.is_local else None

    @property
    def upload_area(self) -> Path | None:
        """The folder file sources (CSV, Parquet, SQLite) are confined to, or None where the platform does
        not read file sources yet (GCP)."""
        return upload_area(self.spec, self.settings) if self.is_local else None

    def app_database_url(self, app: str) -> str | None:
        """The default database of one of the client's apps (``client_app``): SQLite in the local project's
        db/, or None on GCP, where the stack gives the app its Cloud SQL URL (``B2BREC_DATABASE_URL``)."""
        return f"sqlite:///{self._project.db_dir / f'{app}.sqlite'}" if self.is_local else None

    @property
    def default_broker_url(self) -> str | None:
        """The client app's Celery broker when none is configured: kombu's SQLite transport in the local
        project's db/, or None on GCP, where the stack sets ``B2BREC_BROKER_*`` (Memorystore)."""
        return f"sqla+sqlite:///{self._project.db_dir / 'celery-broker.sqlite'}" if self.is_local else None

    @property
    def logs_dir(self) -> Path:
        """Where the client's local processes write their logs: the project's logs/ (else B2BREC_HOME/logs)."""
        return self._project.logs_dir if self.is_local else self.settings.home / "logs"


def platform_secret_store(settings: Settings) -> SecretStore | None:
    """The platform project's own secrets (the control plane's session key): Secret Manager of
    ``B2BREC_GCP_PROJECT`` on GCP; ``None`` on the embedded default, which keeps local key files."""
    if settings.backend is Backend.LOCAL:
        return None
    if not settings.gcp_project:
        raise B2BRecError(
            "B2BREC_GCP_PROJECT is unset: the control plane reads its secrets from that project",
            code="invalid_settings",
        )
    return SecretManagerStore(settings.gcp_project)


def client_admin(
    spec: ClientSpec,
    settings: Settings,
    *,
    impersonate: str | None = None,
    credentials: Any = None,
    endpoint: str | None = None,
    poll_seconds: float = 10.0,
) -> ClientAdmin:
    """What the control plane does inside a client's project (store its source password, run its first
    load): the local project's store and an in-process load, or, on GCP, the client project's Secret
    Manager and Cloud Run ``etl`` job called as ``impersonate`` (the deployer). ``credentials`` and
    ``endpoint`` replace Google's (tests: anonymous, a local recorder)."""
    if settings.backend is Backend.LOCAL:
        return LocalClientAdmin(spec, settings, lambda: backends_for(spec, settings).secrets)
    return cloud_client_admin(
        spec,
        credentials=credentials or deployer_credentials(impersonate),
        endpoint=endpoint,
        poll_seconds=poll_seconds,
    )


def provisions_with_terraform(settings: Settings) -> bool:
    """Whether client projects are provisioned by ``terraform apply`` of their synthesized stack (GCP)
    rather than as local client projects with their services on local ports (the embedded default)."""
    return settings.backend is not Backend.LOCAL


def platform_warehouse(settings: Settings, location: str) -> Warehouse | None:
    """The platform project's own BigQuery (where Cloud Billing writes its export) on GCP; ``None`` on the
    embedded default, where the control plane keeps a local DuckDB copy of the export fed by metering."""
    if settings.backend is Backend.LOCAL:
        return None
    if not settings.gcp_project:
        raise B2BRecError(
            "B2BREC_GCP_PROJECT is unset: the control plane reads the billing export through that project",
            code="invalid_settings",
        )
    return BigQueryWarehouse(settings.gcp_project, location)


def fails_closed(settings: Settings) -> bool:
    """Whether a public endpoint with no credentials configured must refuse calls (GCP: services are
    reachable from the internet) rather than stay open (the embedded default: 127.0.0.1 only)."""
    return settings.backend is not Backend.LOCAL


def file_upload_area(spec: ClientSpec, settings: Settings) -> Path | None:
    """The folder a client's file sources (CSV, Parquet, SQLite) are confined to, or None where the
    platform does not read file sources yet (gcp)."""
    return backends_for(spec, settings).upload_area


def backends_for(spec: ClientSpec, settings: Settings) -> ClientBackends:
    return ClientBackends(spec, settings)


def find_client_spec(name: str, settings: Settings) -> ClientSpec:
    """The spec of the client called ``name``: a local client project (embedded default) or an
    environment file (gcp). Exact match only; a name two clients answer to is refused."""
    if settings.backend is Backend.LOCAL:
        return find_project(name, settings).spec
    return find_environment(settings.environments_dir, name)
