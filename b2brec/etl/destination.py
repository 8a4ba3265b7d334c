"""Where a client's ETL loads to: the client's warehouse, through a dlt destination.

The warehouse backend builds its own dlt destination (``Warehouse.dlt_destination``: DuckDB file
locally, BigQuery in the client project on GCP); the client's backends say where dlt keeps its
state. In both, the dataset is ``raw_data``, and replaced tables are swapped in from a staging
dataset in one transaction (``insert-from-staging``) so a killed load never leaves half a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from b2brec.backends.warehouse import DLT_REPLACE_STRATEGY, BigQueryWarehouse
from b2brec.context import ClientContext
from b2brec.features import RAW_DATASET
from b2brec.spec import ClientSpec

PIPELINE_NAME = "b2brec_etl"
REPLACE_STRATEGY = DLT_REPLACE_STRATEGY


@dataclass(frozen=True)
class Target:
    destination: Any  # a dlt Destination
    pipelines_dir: Path
    dataset: str = RAW_DATASET
    dlt_config: dict[str, Any] = field(default_factory=dict)
    """dlt settings for this destination, applied for the run (``dlt.config.values``)."""


def bigquery_destination(spec: ClientSpec) -> Any:
    """dlt's BigQuery destination for the client project (built only; nothing is called here)."""
    return BigQueryWarehouse(spec.project_id, spec.region).dlt_destination()


def target_for(ctx: ClientContext) -> Target:
    warehouse = ctx.backends.warehouse
    pipelines_dir = ctx.backends.etl_state_dir
    pipelines_dir.mkdir(parents=True, exist_ok=True)
    return Target(destination=warehouse.dlt_destination(), pipelines_dir=pipelines_dir, dlt_config=warehouse.dlt_config)
