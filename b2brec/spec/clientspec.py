"""ClientSpec: the one validated description of a client environment.

It drives both the Terraform stack (``stacks/``) and the local client project, so the
two cannot drift. It never holds a secret: source passwords are *names* of secrets in
the secrets backend.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from b2brec import naming
from b2brec.features import PLATFORM_TABLES
from b2brec.spec.infra import InfraSettings

_REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
_CLIENT_ID = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
_CRON_FIELD = re.compile(r"^[\d*/,\-]+$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$ .-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceKind(StrEnum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    MSSQL = "mssql"
    SQLITE = "sqlite"
    CSV = "csv"
    PARQUET = "parquet"

    @property
    def is_database(self) -> bool:
        return self in {SourceKind.POSTGRESQL, SourceKind.MYSQL, SourceKind.MSSQL, SourceKind.SQLITE}

    @property
    def needs_server(self) -> bool:
        return self in {SourceKind.POSTGRESQL, SourceKind.MYSQL, SourceKind.MSSQL}


DEFAULT_PORTS = {SourceKind.POSTGRESQL: 5432, SourceKind.MYSQL: 3306, SourceKind.MSSQL: 1433}


class SourceConnection(_Strict):
    """Where a client's data lives. Servers need host and database; SQLite and files need path."""

    kind: SourceKind
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    database: str | None = None
    db_schema: str | None = Field(None, description="Database schema, e.g. public (PostgreSQL).")
    username: str | None = None
    password_secret: str | None = Field(
        None, description="Name of the secret holding the password, in the secrets backend."
    )
    path: str | None = Field(None, description="SQLite file, or folder of CSV/Parquet files.")

    @model_validator(mode="after")
    def _complete(self) -> SourceConnection:
        if self.kind.needs_server:
            missing = [f for f in ("host", "database", "username") if not getattr(self, f)]
            if missing:
                raise ValueError(f"a {self.kind.value} source needs {', '.join(missing)}")
        elif not self.path:
            raise ValueError(f"a {self.kind.value} source needs path (a file or folder)")
        return self

    @property
    def effective_port(self) -> int | None:
        return self.port or DEFAULT_PORTS.get(self.kind)

    def resolved_path(self, home: Path) -> Path:
        """``path`` with ``${B2BREC_HOME}`` and ``~`` expanded (specs stay machine-independent)."""
        if not self.path:
            raise ValueError(f"a {self.kind.value} source has no path")
        return Path(self.path.replace("${B2BREC_HOME}", str(home))).expanduser()


class TableMapping(_Strict):
    """How one client table maps onto a platform table in ``raw_data``.

    ``columns`` maps *platform* column → *client* column. ``cursor`` names the platform
    column whose growth marks new or changed rows (incremental load, merge on the key);
    without it every run is a full reload.
    """

    source: str
    table: str
    columns: dict[str, str]
    cursor: str | None = None

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("use a plain table (or file) name: letters, digits, _ . - $")
        return value


class EtlSettings(_Strict):
    schedule: str = Field("0 2 * * *", description="Cron expression (5 fields, UTC) for scheduled loads.")
    timezone: str = "UTC"

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError("use a 5-field cron expression such as '0 2 * * *' (daily at 02:00)")
        return value


class PipelineDefaults(_Strict):
    # two years back: the served model weighs old sales down by time decay, not by a hard window
    window_days: int = Field(730, ge=7, le=3650)
    test_days: int = Field(14, ge=1, le=365)
    revenue_coverage: float = Field(1.0, gt=0.0, le=1.0)  # the whole catalog: long-tail products are bought too
    embedding_dim: int = Field(64, ge=8, le=1024)
    epochs: int = Field(10, ge=1, le=1000)  # an upper bound: early stopping on a validation tail ends sooner
    batch_size: int = Field(512, ge=16, le=1_000_000)  # measured on the demo data (docs/pipeline.md)
    learning_rate: float = Field(0.01, gt=0.0, le=10.0)

    @model_validator(mode="after")
    def _split(self) -> PipelineDefaults:
        if self.test_days >= self.window_days:
            raise ValueError(f"test_days ({self.test_days}) must be less than window_days ({self.window_days})")
        return self


class ClientSpec(_Strict):
    """One client environment (one GCP project, or one local client project)."""

    client_id: str = Field(description="Stable id, e.g. acme-001 (lowercase, digits, hyphens).")
    name: str = Field(min_length=1, description="Display name; the sanitized form names resources.")
    env: Literal["dev", "staging", "prod"]
    region: str = Field(description="GCP region, e.g. europe-west1; every regional resource lands here.")
    cost_center: str = "default"
    template_version: str = "v1"
    created: date
    billing_account: str | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels beyond the five standard ones.")
    sources: dict[str, SourceConnection] = Field(default_factory=dict)
    mapping: dict[str, TableMapping] = Field(default_factory=dict)
    etl: EtlSettings = Field(default_factory=EtlSettings)
    pipeline: PipelineDefaults = Field(default_factory=PipelineDefaults)
    infra: InfraSettings = Field(
        default_factory=InfraSettings, description="Cloud infrastructure choices (budget, alerts, scaling, SQL)."
    )

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if not _CLIENT_ID.match(value):
            raise ValueError("use 3-40 lowercase letters, digits and hyphens, starting with a letter")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError("use a GCP region such as europe-west1 or us-central1")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(set(value) & set(naming.LABEL_KEYS))
        if clash:
            raise ValueError(f"labels {clash} are set by the platform; remove them")
        return value

    @model_validator(mode="after")
    def _mapping(self) -> ClientSpec:
        for table_name, table_map in self.mapping.items():
            where = f"mapping.{table_name}"
            if table_name not in PLATFORM_TABLES:
                raise ValueError(f"{where}: unknown platform table; allowed: {sorted(PLATFORM_TABLES)}")
            platform = PLATFORM_TABLES[table_name]
            if table_map.source not in self.sources:
                raise ValueError(f"{where}.source: {table_map.source!r} is not one of sources {sorted(self.sources)}")
            unknown = sorted(set(table_map.columns) - set(platform.column_names))
            if unknown:
                raise ValueError(
                    f"{where}.columns: unknown platform columns {unknown}; allowed: {list(platform.column_names)}"
                )
            missing = [c for c in platform.required_columns if c not in table_map.columns]
            if missing:
                raise ValueError(f"{where}.columns: required columns {missing} are not mapped")
            if table_map.cursor is not None and table_map.cursor not in table_map.columns:
                raise ValueError(f"{where}.cursor: {table_map.cursor!r} must be one of the mapped columns")
        transactions = self.mapping.get("transactions")
        if transactions is not None and "revenue" not in transactions.columns:
            products = self.mapping.get("products")
            if "quantity" not in transactions.columns or products is None or "price" not in products.columns:
                raise ValueError(
                    "mapping.transactions.columns: map revenue, or map quantity here and price in mapping.products"
                )
        if self.mapping and "transactions" not in self.mapping:
            raise ValueError("mapping: a transactions table is required")
        return self

    # --- derived names (all through the naming helper) ---------------------------------
    @property
    def sanitized_name(self) -> str:
        return naming.sanitize_name(self.name)

    @property
    def project_id(self) -> str:
        return naming.project_id(self.sanitized_name, self.env)

    def bucket(self, purpose: str) -> str:
        return naming.bucket_name(self.project_id, purpose)

    @property
    def datasets(self) -> tuple[str, ...]:
        return naming.DATASETS

    @property
    def standard_labels(self) -> dict[str, str]:
        return naming.labels(
            client_id=self.client_id,
            template_version=self.template_version,
            environment=self.env,
            cost_center=self.cost_center,
            created=self.created,
        )

    @property
    def all_labels(self) -> dict[str, str]:
        extra = {naming.label_value(k): naming.label_value(v) for k, v in self.labels.items()}
        return {**extra, **self.standard_labels}
