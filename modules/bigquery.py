"""BigQuery dataset: one dataset in the environment's region, its tables (schema, partitioning,
clustering) and its own IAM. Tables and dataset are protected from deletion."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from cdktn_provider_google.bigquery_dataset import BigqueryDataset
from cdktn_provider_google.bigquery_dataset_iam_member import BigqueryDatasetIamMember
from cdktn_provider_google.bigquery_table import BigqueryTable, BigqueryTableTimePartitioning
from constructs import Construct

from b2brec import prediction_log
from b2brec.features import PLATFORM_TABLES, PlatformTable
from modules.base import (
    PROTECTED,
    PropsError,
    bind_members,
    key,
    require_iam,
    require_labels,
    require_project,
    require_region,
)

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,1023}$")
BQ_TYPES = {"string": "STRING", "float": "FLOAT64", "integer": "INT64", "timestamp": "TIMESTAMP"}
LOADER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_dlt_load_id", "Load that wrote the row (ETL bookkeeping)."),
    ("_dlt_id", "Row id assigned by the loader (ETL bookkeeping)."),
)


@dataclass(frozen=True, kw_only=True)
class ColumnSpec:
    name: str
    type: str
    """A BigQuery type: STRING, FLOAT64, INT64, TIMESTAMP, …"""
    required: bool = False
    repeated: bool = False
    """An ARRAY of ``type`` (mode REPEATED)."""
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    columns: tuple[ColumnSpec, ...]
    description: str = ""
    partition_field: str | None = None
    """TIMESTAMP/DATE column to partition by day; None = unpartitioned."""
    clustering: tuple[str, ...] = ()
    """Up to four columns the table is clustered by (filter and join keys first)."""

    def schema_json(self) -> str:
        fields = [
            {
                "name": c.name,
                "type": c.type,
                "mode": "REPEATED" if c.repeated else "REQUIRED" if c.required else "NULLABLE",
                "description": c.description,
            }
            for c in self.columns
        ]
        return json.dumps(fields, sort_keys=True)


def platform_table_spec(table: PlatformTable, *, partition_field: str, clustering: tuple[str, ...]) -> TableSpec:
    """The warehouse table of ``b2brec.features`` as a BigQuery table spec (plus the loader's columns)."""
    columns = tuple(
        ColumnSpec(name=c.name, type=BQ_TYPES[c.type], required=c.required, description=c.doc) for c in table.columns
    ) + tuple(ColumnSpec(name=name, type="STRING", description=doc) for name, doc in LOADER_COLUMNS)
    return TableSpec(
        columns=columns,
        description=f"raw_data.{table.name}: key {table.primary_key}; loaded by the ETL (merge on the key).",
        partition_field=partition_field,
        clustering=clustering,
    )


RAW_TABLES: dict[str, TableSpec] = {
    "transactions": platform_table_spec(
        PLATFORM_TABLES["transactions"], partition_field="timestamp", clustering=("customer_id", "product_id")
    ),
    "products": platform_table_spec(
        PLATFORM_TABLES["products"], partition_field="updated_at", clustering=("category", "product_id")
    ),
    "customers": platform_table_spec(
        PLATFORM_TABLES["customers"], partition_field="updated_at", clustering=("city", "customer_id")
    ),
}
"""``raw_data`` tables, from the platform's data contract in ``b2brec.features``."""

PREDICTION_TABLES: dict[str, TableSpec] = {
    prediction_log.TABLE: TableSpec(
        columns=tuple(
            ColumnSpec(name=c.name, type=c.bq_type, repeated=c.repeated, description=c.description)
            for c in prediction_log.COLUMNS
        ),
        description="Every recommendation served (one row per customer and request), written by the serving API.",
        partition_field=prediction_log.PARTITION_FIELD,
        clustering=prediction_log.CLUSTERING,
    )
}
"""``predictions`` tables, from ``b2brec.prediction_log`` (the contract the serving API writes)."""


@dataclass(frozen=True, kw_only=True)
class DatasetProps:
    project_id: str
    region: str
    """Dataset location: the environment's region (data residency)."""
    dataset_id: str
    labels: dict[str, str]
    description: str = ""
    tables: dict[str, TableSpec] = field(default_factory=dict)
    """Tables keyed by table id; tables the pipeline creates at run time need not be listed."""
    iam: dict[str, list[str]] = field(default_factory=dict)
    """Dataset-level ``role -> members`` (e.g. roles/bigquery.dataEditor for the ETL runner)."""
    time_travel_hours: int = 168
    """How far back deleted or changed data can be restored (48-168 hours)."""


class BigQueryDataset(Construct):
    def __init__(self, scope: Construct, id_: str, props: DatasetProps) -> None:
        super().__init__(scope, id_)
        where = f"dataset {props.dataset_id!r}"
        require_project(props.project_id, where)
        require_region(props.region, where)
        if not _IDENT.match(props.dataset_id):
            raise PropsError(f"{where}: use lowercase letters, digits and underscores (naming.DATASETS)")
        labels = require_labels(props.labels, where)
        iam = require_iam(props.iam, where)
        if not 48 <= props.time_travel_hours <= 168 or props.time_travel_hours % 24:
            raise PropsError(f"{where}: time_travel_hours {props.time_travel_hours} must be 48..168, whole days")
        self.dataset = BigqueryDataset(
            self,
            "dataset",
            project=props.project_id,
            dataset_id=props.dataset_id,
            location=props.region,
            description=props.description,
            labels=labels,
            max_time_travel_hours=str(props.time_travel_hours),
            delete_contents_on_destroy=False,
            deletion_policy="PREVENT",
            lifecycle=PROTECTED,
        )
        self.tables: dict[str, BigqueryTable] = {}
        for table_id in sorted(props.tables):
            spec = props.tables[table_id]
            self._check_table(where, table_id, spec)
            self.tables[table_id] = BigqueryTable(
                self,
                key("table", table_id),
                project=props.project_id,
                dataset_id=self.dataset.dataset_id,
                table_id=table_id,
                description=spec.description,
                schema=spec.schema_json(),
                time_partitioning=(
                    BigqueryTableTimePartitioning(type="DAY", field=spec.partition_field)
                    if spec.partition_field
                    else None
                ),
                clustering=list(spec.clustering) or None,
                labels=labels,
                deletion_protection=True,
                deletion_policy="PREVENT",
                lifecycle=PROTECTED,
            )
        bind_members(self, BigqueryDatasetIamMember, iam, project=props.project_id, dataset_id=self.dataset.dataset_id)

    @staticmethod
    def _check_table(where: str, table_id: str, spec: TableSpec) -> None:
        if not _IDENT.match(table_id):
            raise PropsError(f"{where}: table id {table_id!r} must be lowercase letters, digits, underscores")
        names = {c.name: c.type for c in spec.columns}
        if spec.partition_field is not None and names.get(spec.partition_field) not in {"TIMESTAMP", "DATE"}:
            raise PropsError(
                f"{where}.{table_id}: partition_field {spec.partition_field!r} must be a TIMESTAMP or DATE column"
            )
        unknown = [c for c in spec.clustering if c not in names]
        if unknown or len(spec.clustering) > 4:
            raise PropsError(f"{where}.{table_id}: clustering {list(spec.clustering)} must be <= 4 existing columns")
