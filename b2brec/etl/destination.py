"""Where a client's ETL loads to: the client's warehouse, through a dlt destination.

Local: dlt's ``duckdb`` destination on the project's ``warehouse.duckdb`` (dlt opens and
closes its connection per load, so other processes can read the file between runs).
GCP: dlt's ``bigquery`` destination in the client project, region from the spec, credentials
from the runtime's service account (Application Default Credentials).
In both, the dataset is ``raw_data``, and replaced tables are swapped in from a staging
dataset in one transaction (``insert-from-staging``) so a killed load never leaves half a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.specs import GcpServiceAccountCredentials

from b2brec.features import RAW_DATASET
from b2brec.projects.local import open_project
from b2brec.settings import Backend, Settings
from b2brec.spec import ClientSpec

PIPELINE_NAME = "b2brec_etl"
REPLACE_STRATEGY = "insert-from-staging"


@dataclass(frozen=True)
class Target:
    destination: Any  # a dlt Destination
    pipelines_dir: Path
    dataset: str = RAW_DATASET
    warehouse_path: Path | None = None
    dlt_config: dict[str, Any] = field(default_factory=dict)
    """dlt settings for this destination, applied for the run (``dlt.config.values``)."""


LOCAL_DLT_CONFIG: dict[str, Any] = {
    # Extracted Arrow batches are written to Parquet and read back by DuckDB from the same disk a
    # moment later (then deleted): compressing them costs more than it saves (~1 s per 1M rows).
    # BigQuery keeps the default (snappy): there the files are uploaded.
    "data_writer.compression": "none",
}


def bigquery_destination(spec: ClientSpec) -> Any:
    """dlt's BigQuery destination for the client project (built only; nothing is called here)."""
    credentials = GcpServiceAccountCredentials()
    credentials.project_id = spec.project_id  # the rest resolves from Application Default Credentials
    return dlt.destinations.bigquery(
        credentials=credentials,
        location=spec.region,
        replace_strategy=REPLACE_STRATEGY,
        destination_name="client_warehouse",
    )


def target_for(spec: ClientSpec, settings: Settings) -> Target:
    if settings.backend is Backend.LOCAL:
        project = open_project(spec.project_id, settings)
        project.etl_dir.mkdir(parents=True, exist_ok=True)
        destination = dlt.destinations.duckdb(
            credentials=str(project.warehouse_path),
            replace_strategy=REPLACE_STRATEGY,
            destination_name="client_warehouse",
        )
        return Target(
            destination=destination,
            pipelines_dir=project.etl_dir,
            warehouse_path=project.warehouse_path,
            dlt_config=LOCAL_DLT_CONFIG,
        )
    # On GCP the job's disk is scratch space: dlt restores its state from the warehouse.
    return Target(destination=bigquery_destination(spec), pipelines_dir=settings.home / "etl" / spec.project_id)
