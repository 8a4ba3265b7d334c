"""Warehouse boundary: DuckDB file locally, BigQuery on GCP.

SQL is written once in BigQuery dialect (``dataset.table``, ``@param``) and transpiled
with sqlglot for DuckDB, where datasets are schemas of one database file.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa
import sqlglot

from b2brec.errors import B2BRecError
from b2brec.naming import DATASETS

if TYPE_CHECKING:
    from b2brec.prediction_log import PredictionSink

SqlParams = Mapping[str, Any]

DLT_DESTINATION_NAME = "client_warehouse"
DLT_REPLACE_STRATEGY = "insert-from-staging"
"""Replaced tables are swapped in from a staging dataset in one transaction, so a killed load never
leaves half a table (both destinations)."""


WarehouseKind = Literal["duckdb", "bigquery"]

BIGQUERY_EMULATOR_HOST = "BIGQUERY_EMULATOR_HOST"
"""google-cloud-bigquery's own endpoint override: set, every ``bigquery.Client`` (ours and the one dlt's
destination builds) sends its requests to that URL. Tests only (a local ``bqemulator``); no stack sets it."""


class Warehouse(Protocol):
    """What the platform needs from a warehouse."""

    @property
    def kind(self) -> WarehouseKind:
        """Which engine this is, for an upper layer that must pick its own I/O per engine (the extractor's
        Beam read); everything else calls the methods here and never asks."""

    def query(self, sql: str, params: SqlParams | None = None) -> pa.Table:
        """Run a BigQuery-dialect query and return its rows."""

    def execute(self, sql: str, params: SqlParams | None = None) -> None:
        """Run a BigQuery-dialect statement (DDL/DML)."""

    def table_exists(self, dataset: str, table: str) -> bool: ...

    def ensure_datasets(self, datasets: tuple[str, ...] = DATASETS) -> None: ...

    @property
    def uri(self) -> str:
        """How a pipeline job is told where this warehouse is (``duckdb:///path``, ``bigquery://project/loc``)."""

    def dlt_destination(self) -> Any:
        """The dlt destination that loads into this warehouse (built only; nothing is called)."""

    @property
    def dlt_config(self) -> dict[str, Any]:
        """dlt settings for loads into this warehouse, applied for the run (``dlt.config.values``)."""

    def prediction_sink(self) -> PredictionSink:
        """Where the serving API appends its prediction log (``b2brec.prediction_log``)."""


def to_duckdb_sql(sql: str) -> str:
    """Transpile BigQuery SQL to DuckDB SQL (``@name`` parameters become ``$name``)."""
    statements = sqlglot.transpile(sql, read="bigquery", write="duckdb")
    return ";\n".join(statements)


LOCK_WAIT_SECONDS = 30.0
"""How long opening the file waits while another process holds it (DuckDB allows one writing process,
and no reader beside it): every platform process opens the file per call and closes it after, so a
conflict is a short overlap (serving flushing its prediction log while the CLI reads a summary)."""


def _connect_waiting_for_lock(path: Path, *, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_s
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
        time.sleep(delay + random.uniform(0, delay))
        delay = min(delay * 2, 0.5)


class DuckDBWarehouse:
    """A DuckDB database file; each dataset is a schema. Connections are short-lived so that
    other processes (an ETL run, the serving API) can open the same file between calls."""

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        lock_wait_s: float = LOCK_WAIT_SECONDS,
    ) -> None:
        """``memory_limit`` (e.g. ``"256MB"``): DuckDB spills beyond it to a temporary folder, so a big
        query (a window function over every transaction) runs in bounded memory. ``lock_wait_s``: how long
        opening the file waits while another process holds it (0 = fail at once)."""
        self.path = Path(path)
        self.read_only = read_only
        self.memory_limit = memory_limit
        self.lock_wait_s = lock_wait_s

    kind: WarehouseKind = "duckdb"

    @property
    def uri(self) -> str:
        """``duckdb:///abs/path`` : how a pipeline job is told where this warehouse is."""
        return f"duckdb://{self.path.resolve()}"

    def prediction_sink(self) -> PredictionSink:
        from b2brec.prediction_log import DuckDBSink

        return DuckDBSink(self)

    def dlt_destination(self) -> Any:
        """dlt's ``duckdb`` destination on this file (dlt opens and closes its connection per load, so
        other processes can read the file between runs)."""
        import dlt

        return dlt.destinations.duckdb(
            credentials=str(self.path), replace_strategy=DLT_REPLACE_STRATEGY, destination_name=DLT_DESTINATION_NAME
        )

    @property
    def dlt_config(self) -> dict[str, Any]:
        # Extracted Arrow batches are written to Parquet and read back by DuckDB from the same disk a
        # moment later (then deleted): compressing them costs more than it saves (~1 s per 1M rows).
        return {"data_writer.compression": "none"}

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A connection whose session time zone is UTC (as BigQuery's): TIMESTAMPTZ values come back in
        UTC and a naive timestamp compared with one is read as UTC, whatever the machine's TZ."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect_waiting_for_lock(self.path, read_only=self.read_only, wait_s=self.lock_wait_s)
        conn.execute("SET TimeZone = 'UTC'")
        if self.memory_limit:
            spill = Path(tempfile.gettempdir()) / "b2brec-duckdb-spill"
            spill.mkdir(exist_ok=True)
            conn.execute(f"SET memory_limit = '{self.memory_limit}'")
            conn.execute(f"SET temp_directory = '{spill}'")
        return conn

    def query(self, sql: str, params: SqlParams | None = None) -> pa.Table:
        with self.connect() as conn:
            return conn.sql(to_duckdb_sql(sql), params=dict(params or {})).to_arrow_table()

    def execute(self, sql: str, params: SqlParams | None = None) -> None:
        with self.connect() as conn:
            conn.execute(to_duckdb_sql(sql), dict(params or {}))

    def table_exists(self, dataset: str, table: str) -> bool:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [dataset, table],
            ).fetchone()
        return bool(row and row[0])

    def ensure_datasets(self, datasets: tuple[str, ...] = DATASETS) -> None:
        with self.connect() as conn:
            for dataset in datasets:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{dataset}"')


def _bq_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, datetime):
        return "TIMESTAMP"
    if isinstance(value, date):
        return "DATE"
    return "STRING"


def emulator_credentials(project: str) -> Any | None:
    """Credentials for the local BigQuery emulator named by ``BIGQUERY_EMULATOR_HOST``, else None
    (Application Default Credentials, as on GCP). A test machine has no ADC: a static bearer token, which
    the emulator ignores, stands in (a ``google.oauth2`` user credential, a type dlt's destination takes)."""
    if not os.environ.get(BIGQUERY_EMULATOR_HOST):
        return None
    from google.oauth2.credentials import Credentials

    return Credentials(token="bigquery-emulator", quota_project_id=project)  # type: ignore[no-untyped-call]


class BigQueryWarehouse:
    """BigQuery in the client project. A thin wrapper over ``google-cloud-bigquery``."""

    def __init__(self, project: str, location: str, *, client: Any = None) -> None:
        self.project = project
        self.location = location
        self._client = client

    kind: WarehouseKind = "bigquery"

    @property
    def uri(self) -> str:
        return f"bigquery://{self.project}/{self.location}"

    def prediction_sink(self) -> PredictionSink:
        from b2brec.prediction_log import BigQuerySink

        return BigQuerySink(self)

    def dlt_destination(self) -> Any:
        """dlt's ``bigquery`` destination in the client project, region from the spec, credentials from the
        runtime's service account (Application Default Credentials)."""
        import dlt
        from dlt.common.configuration.specs import GcpServiceAccountCredentials

        credentials: Any = emulator_credentials(self.project)
        if credentials is None:
            credentials = GcpServiceAccountCredentials()
            credentials.project_id = self.project  # the rest resolves from Application Default Credentials
        return dlt.destinations.bigquery(
            credentials=credentials,
            location=self.location,
            replace_strategy=DLT_REPLACE_STRATEGY,
            destination_name=DLT_DESTINATION_NAME,
        )

    @property
    def dlt_config(self) -> dict[str, Any]:
        return {}  # the default (snappy) Parquet compression: there the files are uploaded

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import bigquery

            self._client = bigquery.Client(
                project=self.project, location=self.location, credentials=emulator_credentials(self.project)
            )
        return self._client

    def job_config(self, params: SqlParams | None = None) -> Any:
        """The QueryJobConfig sent with a query: named parameters typed from their values."""
        from google.cloud import bigquery

        parameters = [bigquery.ScalarQueryParameter(name, _bq_type(v), v) for name, v in (params or {}).items()]
        return bigquery.QueryJobConfig(
            query_parameters=parameters,
            default_dataset=None,
            labels={"component": "b2brec"},
        )

    def query(self, sql: str, params: SqlParams | None = None) -> pa.Table:
        """One ``jobs.query`` call (the API waits for a short query and returns its first page of rows);
        rows beyond it are paged with ``getQueryResults``. The Storage Read API is not used: the platform's
        queries return aggregates, not table scans."""
        rows = self.client.query_and_wait(sql, job_config=self.job_config(params), location=self.location)
        return rows.to_arrow(create_bqstorage_client=False)

    def execute(self, sql: str, params: SqlParams | None = None) -> None:
        self.client.query(sql, job_config=self.job_config(params), location=self.location).result()

    def table_exists(self, dataset: str, table: str) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self.client.get_table(f"{self.project}.{dataset}.{table}")
        except NotFound:
            return False
        return True

    def ensure_datasets(self, datasets: tuple[str, ...] = DATASETS) -> None:
        """Datasets are created by Terraform on GCP; this only checks they exist."""
        from google.api_core.exceptions import NotFound

        for dataset in datasets:
            try:
                self.client.get_dataset(f"{self.project}.{dataset}")
            except NotFound as exc:
                raise RuntimeError(
                    f"BigQuery dataset {self.project}.{dataset} is missing; apply the client stack first"
                ) from exc


def warehouse_from_uri(uri: str, *, memory_limit: str | None = None) -> Warehouse:
    """The warehouse a URI names (what ``Warehouse.uri`` gives a pipeline job): ``duckdb:///abs/path``
    (opened read-only; ``memory_limit`` bounds DuckDB's memory) or ``bigquery://project/location``."""
    parsed = urlparse(uri)
    if parsed.scheme == "duckdb":
        path = Path(unquote(parsed.netloc + parsed.path))
        if not path.exists():
            raise B2BRecError(
                f"warehouse file {path} does not exist",
                code="not_found",
                fix="create the client project and run the ETL",
            )
        return DuckDBWarehouse(path, read_only=True, memory_limit=memory_limit)
    if parsed.scheme == "bigquery" and parsed.netloc:
        return BigQueryWarehouse(parsed.netloc, parsed.path.strip("/") or "EU")
    raise B2BRecError(
        f"warehouse URI {uri!r} is not duckdb:///path or bigquery://project/location", code="invalid_request"
    )
