"""ClientSpec: the one validated description of a client environment.

It drives both the Terraform stack (``stacks/``) and the local client project, so the
two cannot drift. It never holds a secret: source passwords are *names* of secrets in
the secrets backend.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from b2brec import naming
from b2brec.features import PLATFORM_TABLES
from b2brec.security.hosts import HostRefused, check_host_syntax
from b2brec.spec import expressions
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

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        # Syntax only here (no DNS, no allow-list): the full check runs before every connection.
        if value is not None:
            try:
                check_host_syntax(value)
            except HostRefused as exc:
                raise ValueError(f"{exc} Fix: {exc.fix}") from None
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and ("\x00" in value or len(value) > 1024 or not value.strip()):
            raise ValueError("use a path relative to the client's upload area (no NUL byte, at most 1024 characters)")
        return value

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


NEGATIVE_QUANTITY_RULES = ("keep", "drop", "net")


class RowRules(_Strict):
    """What to do with rows of real ERP data that are not sales (transactions only).

    Applied when the data is read for training and by serving, never to what the ETL stores:
    ``raw_data`` keeps the client's rows as they are, so changing a rule needs no reload.
    """

    cancellation_prefixes: list[str] = Field(
        default_factory=list,
        description="Invoice numbers starting with one of these are cancellations and dropped (needs invoice_id).",
    )
    negative_quantity: Literal["keep", "drop", "net"] = Field(
        "keep",
        description="Other lines with a negative quantity (returns): keep them, drop them, or net them against "
        "the customer's latest earlier purchases of the product (a purchase returned in full disappears).",
    )
    exclude_products: list[str] = Field(
        default_factory=list,
        description="Product ids that are not products (postage, fees): never trained on or served.",
    )
    exclude_categories: list[str] = Field(
        default_factory=list, description="Product categories to exclude likewise (needs products.category)."
    )

    @field_validator("cancellation_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not v or len(v) > 10 or not v.isprintable() or "'" in v]
        if bad:
            raise ValueError(f"prefixes must be 1-10 printable characters without quotes, got {bad!r} (e.g. ['C'])")
        return value

    @field_validator("exclude_products", "exclude_categories")
    @classmethod
    def _exclusions(cls, value: list[str]) -> list[str]:
        if len(value) > 10_000:
            raise ValueError(f"at most 10,000 entries, got {len(value):,}")
        bad = [v for v in value if not v.strip() or len(v) > 200]
        if bad:
            raise ValueError(f"entries must be non-empty and at most 200 characters, got {bad[:3]!r}")
        return value

    @property
    def active(self) -> bool:
        return bool(
            self.cancellation_prefixes
            or self.negative_quantity != "keep"
            or self.exclude_products
            or self.exclude_categories
        )


class TableMapping(_Strict):
    """How one client table maps onto a platform table in ``raw_data``.

    ``columns`` maps *platform* column → *client* column. ``derived`` computes a platform
    column from client columns (``revenue: quantity * unit_price``; names, numbers, ``+ - * /``
    and parentheses). ``cursor`` names the platform column whose growth marks new or changed
    rows (incremental load, merge on the key); without it every run is a full reload.
    ``rules`` (transactions only) says which rows are not sales.
    """

    source: str
    table: str
    columns: dict[str, str]
    derived: dict[str, str] = Field(default_factory=dict)
    cursor: str | None = None
    rules: RowRules | None = None

    @field_validator("derived")
    @classmethod
    def _derived(cls, value: dict[str, str]) -> dict[str, str]:
        for platform_column, text in value.items():
            try:
                expressions.parse(text)
            except expressions.ExpressionError as exc:
                raise ValueError(f"derived.{platform_column}: {exc}") from None
        return value

    @property
    def platform_columns(self) -> list[str]:
        """Mapped and derived platform columns."""
        return [*self.columns, *(c for c in self.derived if c not in self.columns)]

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


class TrainingSettings(_Strict):
    """What the client app lets a client's users spend on training, and its scheduled retraining."""

    quota_per_month: int = Field(
        30, ge=0, le=10_000, description="Training runs a client may start per calendar month (0 = none)."
    )
    approval_threshold_usd: float = Field(
        50.0, ge=0.0, le=100_000.0, description="Runs estimated above this cost (USD) wait for an admin's approval."
    )
    retrain_schedule: str | None = Field(
        None,
        description="Cron (5 fields, UTC) of scheduled retraining; unset = off. A scheduled run trains only when "
        "new data arrived and deploys only if it beats the live model on the same test set.",
    )

    @field_validator("retrain_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError("use a 5-field cron expression such as '0 4 * * 1' (Mondays at 04:00), or leave it out")
        return " ".join(fields)


MIN_CUSTOMERS = 5
MIN_PRODUCTS = 5


class PipelineDefaults(_Strict):
    """The pipeline's defaults, declared once: RunOptions and the stage entrypoints read them from here."""

    # two years back: the served model weighs old sales down by time decay, not by a hard window
    window_days: int = Field(730, ge=7, le=3650)
    test_days: int = Field(14, ge=1, le=365)
    revenue_coverage: float = Field(1.0, gt=0.0, le=1.0)  # the whole catalog: long-tail products are bought too
    embedding_dim: int = Field(64, ge=8, le=1024)
    epochs: int = Field(10, ge=1, le=1000)  # an upper bound: early stopping on a validation tail ends sooner
    batch_size: int = Field(512, ge=16, le=1_000_000)  # measured on the demo data (docs/pipeline.md)
    learning_rate: float = Field(0.01, gt=0.0, le=10.0)
    # time decay (weight 0.5 ** (age / half-life)) of popularity and purchase history, in training and serving
    half_life_days: float = Field(90.0, gt=0.0, le=3650.0)

    # Not spec fields (a run may override them): the smallest window the extractor accepts.
    @property
    def min_customers(self) -> int:
        return MIN_CUSTOMERS

    @property
    def min_products(self) -> int:
        return MIN_PRODUCTS

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
    template_version: str = "1.0.0"  # a semantic version: the template registry's baseline (provisioning/templates.py)
    created: date
    billing_account: str | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels beyond the five standard ones.")
    sources: dict[str, SourceConnection] = Field(default_factory=dict)
    mapping: dict[str, TableMapping] = Field(default_factory=dict)
    etl: EtlSettings = Field(default_factory=EtlSettings)
    pipeline: PipelineDefaults = Field(default_factory=PipelineDefaults)
    training: TrainingSettings = Field(
        default_factory=TrainingSettings, description="Monthly training quota, approval threshold, retraining."
    )
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
            self._check_derived(where, table_name, table_map)
            if table_map.rules is not None:
                self._check_rules(where, table_name, table_map, table_map.rules)
        transactions = self.mapping.get("transactions")
        if transactions is not None and "revenue" not in transactions.platform_columns:
            products = self.mapping.get("products")
            if "quantity" not in transactions.platform_columns or products is None or "price" not in products.columns:
                raise ValueError(
                    "mapping.transactions.columns: map revenue, derive it (derived: {revenue: quantity * unit_price}), "
                    "or map quantity here and price in mapping.products"
                )
        if self.mapping and "transactions" not in self.mapping:
            raise ValueError("mapping: a transactions table is required")
        return self

    @staticmethod
    def _check_derived(where: str, table_name: str, table_map: TableMapping) -> None:
        platform = PLATFORM_TABLES[table_name]
        for column in table_map.derived:
            if column not in platform.column_names:
                raise ValueError(
                    f"{where}.derived: unknown platform column {column!r}; allowed: {list(platform.column_names)}"
                )
            if column in table_map.columns:
                raise ValueError(f"{where}.derived.{column}: it is also in columns; map it or derive it, not both")
            if platform.column(column).type != "float":
                numeric = [c.name for c in platform.columns if c.type == "float"]
                raise ValueError(f"{where}.derived.{column}: only numeric columns can be derived ({numeric})")

    def _check_rules(self, where: str, table_name: str, table_map: TableMapping, rules: RowRules) -> None:
        if table_name != "transactions":
            raise ValueError(f"{where}.rules: row rules apply to mapping.transactions only; move them there")
        have = table_map.platform_columns
        if rules.cancellation_prefixes and "invoice_id" not in have:
            raise ValueError(
                f"{where}.rules.cancellation_prefixes needs the invoice number: map columns.invoice_id "
                "(e.g. invoice_id: invoice_no)"
            )
        if rules.negative_quantity != "keep" and "quantity" not in have:
            raise ValueError(
                f"{where}.rules.negative_quantity: {rules.negative_quantity!r} needs columns.quantity; map it or "
                "use 'keep'"
            )
        if rules.exclude_categories:
            products = self.mapping.get("products")
            if products is None or "category" not in products.columns:
                raise ValueError(
                    f"{where}.rules.exclude_categories needs product categories: map mapping.products.columns.category"
                )

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
