"""Pick each backend for a client from ``B2BREC_BACKEND``: one code path, two backends.

Backends are built lazily, one boundary at a time: a process that only needs the warehouse and the
secrets (the ETL job, the serving service) never asks for the trainer image or the staging bucket,
which only the job runner needs. A missing setting is reported when (and only when) the boundary
that needs it is first used.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from b2brec.backends.cloud_run_jobs import CloudRunJobRunner
from b2brec.backends.jobs import JobRunner, VertexJobRunner
from b2brec.backends.secrets import SecretManagerStore, SecretStore
from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import BigQueryWarehouse, Warehouse
from b2brec.errors import B2BRecError
from b2brec.projects.local import LocalClientProject, open_project
from b2brec.settings import Backend, Settings
from b2brec.spec import ClientSpec


class ClientBackends:
    """The backends of one client, each created on first use and then reused."""

    def __init__(self, spec: ClientSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings

    @property
    def is_local(self) -> bool:
        return self.settings.backend is Backend.LOCAL

    @cached_property
    def _project(self) -> LocalClientProject:
        return open_project(self.spec.project_id, self.settings)

    @cached_property
    def warehouse(self) -> Warehouse:
        if self.is_local:
            return self._project.warehouse()
        return BigQueryWarehouse(self.spec.project_id, self.spec.region)

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
        )

    @cached_property
    def etl_jobs(self) -> JobRunner:
        """Where ETL runs execute: the project's subprocess runner locally, the client's Cloud Run
        ETL job on GCP (``b2brec.etl.jobs.submit_etl``)."""
        if self.is_local:
            return self._project.jobs()
        return CloudRunJobRunner(project=self.spec.project_id, region=self.spec.region)

    @property
    def storage(self) -> Callable[[str], ObjectStore]:
        """``storage(purpose)``: the client's bucket for that purpose (``data``, ``models``, ...)."""
        if self.is_local:
            return self._project.storage
        return lambda purpose: ObjectStore(f"gs://{self.spec.bucket(purpose)}")


def backends_for(spec: ClientSpec, settings: Settings) -> ClientBackends:
    return ClientBackends(spec, settings)
