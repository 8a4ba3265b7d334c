"""Pick each backend for a client from ``B2BREC_BACKEND``: one code path, two backends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from b2brec.backends.jobs import JobRunner, VertexJobRunner
from b2brec.backends.secrets import SecretManagerStore, SecretStore
from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import BigQueryWarehouse, Warehouse
from b2brec.errors import B2BRecError
from b2brec.projects.local import open_project
from b2brec.settings import Backend, Settings
from b2brec.spec import ClientSpec


@dataclass(frozen=True)
class ClientBackends:
    warehouse: Warehouse
    secrets: SecretStore
    jobs: JobRunner
    storage: Callable[[str], ObjectStore]


def backends_for(spec: ClientSpec, settings: Settings) -> ClientBackends:
    if settings.backend is Backend.LOCAL:
        project = open_project(spec.project_id, settings)
        return ClientBackends(
            warehouse=project.warehouse(), secrets=project.secrets(), jobs=project.jobs(), storage=project.storage
        )
    if not settings.trainer_image or not settings.gcp_staging_bucket:
        raise B2BRecError(
            "backend=gcp needs B2BREC_TRAINER_IMAGE and B2BREC_GCP_STAGING_BUCKET; set both and retry",
            code="invalid_settings",
        )
    return ClientBackends(
        warehouse=BigQueryWarehouse(spec.project_id, spec.region),
        secrets=SecretManagerStore(spec.project_id),
        jobs=VertexJobRunner(
            project=spec.project_id,
            region=spec.region,
            image_uri=settings.trainer_image,
            staging_bucket=settings.gcp_staging_bucket,
            service_account=settings.vertex_service_account,
            labels=spec.all_labels,
        ),
        storage=lambda purpose: ObjectStore(f"gs://{spec.bucket(purpose)}"),
    )
