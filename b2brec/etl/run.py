"""Load a client's mapped tables into ``raw_data`` with dlt: full, incremental, crash-safe.

* A table with a cursor loads incrementally: ``dlt.sources.incremental(cursor)`` keeps the
  high-water mark in dlt's state and the source query filters on it; rows are merged on the
  platform primary key, so a row loaded twice is stored once.
* A table without a cursor is replaced in full each run (swapped in from staging).
* Crash safety comes from dlt: the new state is committed inside the same load package as
  the data, and what a killed run left behind is finished or aborted by the next run before
  anything new is extracted (:mod:`b2brec.etl.recovery` says which, and why).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.sources.sql_database import sql_table

from b2brec.backends.warehouse import Warehouse
from b2brec.context import ClientContext
from b2brec.etl import files
from b2brec.etl.checks import Prepared, inspect_sources, select_tables
from b2brec.etl.destination import PIPELINE_NAME, Target, target_for
from b2brec.etl.errors import LOAD_FAILED, EtlError, scrub
from b2brec.etl.history import LoadSummary, TableLoad, record_run
from b2brec.etl.mapping import (
    arrow_schema,
    column_hints,
    conform,
    derives_revenue,
    key_is_unique,
    mapped_select,
    platform_table,
)
from b2brec.etl.recovery import RefreshLedger, recover_interrupted, sweep_interrupted_writes
from b2brec.etl.sources import table_backend
from b2brec.features import RAW_DATASET, derived_revenue_sql
from b2brec.progress import OnEvent, emit
from b2brec.rowrules import RuleCounts, rule_counts
from b2brec.spec import ClientSpec

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
"""Rows per Arrow batch read from a database source."""

DLT_CONFIG: dict[str, Any] = {
    "runtime.dlthub_telemetry": False,
    # Loaded packages keep only their metadata: without this every run leaves a copy of the data it
    # loaded in the project's etl/ folder (a full 1M-row reload is ~25 MB of Parquet).
    "load.delete_completed_jobs": True,
}

# Progress events of a run (b2brec.progress), in order:
#   check/start (total = tables), check/done             the sources were checked
#   extract/advance (done = rows read, data.table)       rows leave a source table
#   load/start (done = rows read, data.table)            the table's rows are normalised and loaded
#   load/done (done = rows written, data.table)          the table is in the warehouse
#   etl/done (done = rows written in all)  or  etl/error (data.code, data.fix)

_REVENUE_SQL = f"""
UPDATE {RAW_DATASET}.transactions AS t
SET revenue = {derived_revenue_sql("t", "p")}
FROM {RAW_DATASET}.products AS p
WHERE p.product_id = t.product_id AND t.revenue IS NULL
"""


class _Counter:
    """Counts rows leaving the source (before dlt's incremental step) and reports progress."""

    def __init__(self, table: str, on_event: OnEvent | None) -> None:
        self.table = table
        self.rows = 0
        self.on_event = on_event

    def __call__(self, item: Any) -> Any:
        self.rows += item.num_rows if isinstance(item, pa.Table) else len(item) if isinstance(item, list) else 1
        emit(self.on_event, "extract", "advance", done=self.rows, table=self.table)
        return item


def _resource(spec: ClientSpec, prepared: Prepared, counter: _Counter) -> Any:
    """The dlt resource of one platform table, named after it."""
    table_name = prepared.table_name
    mapping = spec.mapping[table_name]
    platform = platform_table(table_name)
    disposition: Any = "merge" if mapping.cursor else "replace"
    hints = column_hints(table_name, mapping)
    if prepared.sql_table is not None:
        if mapping.cursor:
            # Set every run (True or False), so a stored hint never outlives a mapping change.
            unique = key_is_unique(prepared.sql_table, table_name, mapping)
            disposition = {"disposition": "merge", "strategy": "delete-insert", "deduplicated": unique}
        engine = prepared.handle.engine()
        subquery = mapped_select(prepared.sql_table, table_name, mapping, engine.dialect.name)
        backend = table_backend(prepared.handle.conn.kind)
        log.info("reading %s from %s with dlt's %s backend", table_name, mapping.table, backend)

        def select_mapped(_table: sa.Table) -> Any:
            # dlt reads the returned subquery like the table (its hint names only Select and Table)
            return subquery

        resource = sql_table(
            credentials=engine,
            table=mapping.table,
            metadata=prepared.sql_table.metadata,
            table_adapter_callback=select_mapped,
            incremental=dlt.sources.incremental(mapping.cursor) if mapping.cursor else None,
            backend=backend,
            # ConnectorX streams Arrow batches of chunk_size rows (memory stays bounded).
            backend_kwargs={"return_type": "arrow_stream"} if backend == "connectorx" else {},
            chunk_size=CHUNK_ROWS,
            reflection_level="minimal",
            write_disposition=disposition,
            primary_key=platform.primary_key,
        ).with_name(table_name)
        resource.apply_hints(table_name=table_name, columns=hints)
        schema = arrow_schema(table_name, mapping)
        resource.add_map(lambda batch: conform(batch, schema), insert_at=1)
    else:
        kind = prepared.handle.conn.kind
        paths = prepared.file_paths

        def rows() -> Iterator[pa.Table]:
            yield from files.read_file_table(paths, kind, table_name, mapping)

        resource = dlt.resource(
            rows, name=table_name, write_disposition=disposition, primary_key=platform.primary_key, columns=hints
        )()
        if mapping.cursor:
            resource.apply_hints(incremental=dlt.sources.incremental(mapping.cursor))
    resource.add_map(counter, insert_at=2 if prepared.sql_table is not None else 1)  # before incremental
    return resource


def _watermark(pipeline: Any, table_name: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    for source_state in pipeline.state.get("sources", {}).values():
        resource_state = source_state.get("resources", {}).get(table_name)
        if resource_state:
            value = resource_state.get("incremental", {}).get(cursor, {}).get("last_value")
            if isinstance(value, datetime | date):
                return value.isoformat()
            return None if value is None else str(value)
    return None


def _pipeline(target: Target) -> Any:
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        pipelines_dir=str(target.pipelines_dir),
        destination=target.destination,
        dataset_name=target.dataset,
    )


def _load(
    spec: ClientSpec,
    target: Target,
    prepared: dict[str, Prepared],
    tables: list[str],
    full_refresh: bool,
    on_event: OnEvent | None,
    ledger: RefreshLedger,
) -> tuple[list[TableLoad], bool]:
    """Load ``tables``; returns the per-table results and whether this was a full refresh (asked
    for, or owed because an earlier one did not finish)."""
    counters = {name: _Counter(name, on_event) for name in tables}
    with dlt.config.values({**DLT_CONFIG, **target.dlt_config}):
        sweep_interrupted_writes(target.pipelines_dir / PIPELINE_NAME)
        pipeline = _pipeline(target)
        # The watermarks and schema of the last completed load, from the warehouse, when they are
        # newer than the local ones: on GCP every job starts on an empty disk, and without this
        # each "incremental" run would re-read the whole source. (dlt's run() does this; we call
        # its steps one by one.)
        pipeline.sync_destination()
        recover_interrupted(pipeline)
        owed = ledger.owed(set(tables))
        if owed and not full_refresh:
            log.warning("reloading in full: %s (an earlier full refresh did not finish)", ", ".join(sorted(owed)))
            full_refresh = True
        if full_refresh:
            ledger.begin(set(tables))
        resources = [_resource(spec, prepared[name], counters[name]) for name in tables]
        pipeline.extract(resources, refresh="drop_resources" if full_refresh else None)
        for name in tables:
            emit(on_event, "load", "start", done=counters[name].rows, table=name)
        normalized = pipeline.normalize()
        pipeline.load()
        row_counts = normalized.row_counts if normalized is not None else {}
        loads = []
        for name in tables:
            mapping = spec.mapping[name]
            loads.append(
                TableLoad(
                    table=name,
                    source_table=mapping.table,
                    mode="full-refresh" if full_refresh else ("merge" if mapping.cursor else "replace"),
                    rows_read=counters[name].rows,
                    rows_written=int(row_counts.get(name, 0)),
                    watermark=_watermark(pipeline, name, mapping.cursor),
                )
            )
            emit(on_event, "load", "done", done=loads[-1].rows_written, table=name)
    if full_refresh:
        ledger.done(set(tables))
    return loads, full_refresh


def transaction_rule_counts(warehouse: Warehouse, spec: ClientSpec) -> RuleCounts:
    """What the client's row rules make of everything in ``raw_data.transactions``."""
    columns = warehouse.query(f"SELECT * FROM {RAW_DATASET}.transactions LIMIT 0").schema.names
    return rule_counts(warehouse, spec.mapping["transactions"].rules, columns)


def _etl_error_in(exc: BaseException) -> EtlError | None:
    """The EtlError dlt wrapped (e.g. a bad file raised inside a resource), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, EtlError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def run_etl(
    ctx: ClientContext,
    *,
    full_refresh: bool = False,
    tables: list[str] | None = None,
    on_event: OnEvent | None = None,
    run_id: str | None = None,
) -> LoadSummary:
    """Check the sources, then load the selected tables; record and return the summary.

    Raises :class:`EtlError` (with a code and a fix) when a check fails — before anything
    is written to the platform tables — or when the load itself fails. ``on_event`` receives
    the progress events listed above. ``run_id``: the id to record the run under (the submitter of an
    ETL job chooses it, ``b2brec.etl.jobs``); a new one by default.
    """
    spec, settings, backends = ctx.spec, ctx.settings, ctx.backends
    selected = select_tables(spec, tables)
    run_id = run_id or uuid.uuid4().hex[:12]
    started = datetime.now(UTC)
    emit(on_event, "check", "start", total=len(selected), tables=list(selected))
    report, prepared, handles = inspect_sources(spec, settings, backends.secrets, selected)
    secrets = [s for handle in handles for s in handle.secrets]
    try:
        report.raise_for_failure()
        emit(on_event, "check", "done", done=len(selected), total=len(selected))
        target = target_for(ctx)
        log.info("ETL run %s for %s: tables %s", run_id, spec.project_id, ", ".join(selected))
        try:
            ledger = RefreshLedger(backends.storage("data"))
            loads, full_refresh = _load(spec, target, prepared, selected, full_refresh, on_event, ledger)
        except Exception as exc:  # dlt wraps every step failure; show it without secrets
            ours = _etl_error_in(exc)
            if ours is not None:  # a bad file found while loading: its own code and message
                raise ours from None
            cause = exc.__cause__ or exc
            detail = scrub(f"{type(cause).__name__}: {cause}", secrets).strip().splitlines()
            log.debug("load failure: %s", scrub(repr(cause), secrets))
            raise EtlError(
                f"the load failed: {detail[0]}",
                code=LOAD_FAILED,
                fix="run `b2brec etl test-connection` and retry; an interrupted load is finished on the next run.",
            ) from None
        counts = None
        if "transactions" in selected:
            if derives_revenue("transactions", spec.mapping["transactions"]):
                backends.warehouse.execute(_REVENUE_SQL)
            counts = transaction_rule_counts(backends.warehouse, spec)
    except EtlError as exc:
        failed = LoadSummary(
            run_id=run_id,
            started_at=started,
            finished_at=datetime.now(UTC),
            full_refresh=full_refresh,
            status="failed",
            error_code=exc.code,
            error_message=scrub(exc.message, secrets),
        )
        record_run(backends.warehouse, failed)
        emit(on_event, "etl", "error", message=failed.error_message or "", code=exc.code, fix=exc.fix)
        raise
    finally:
        for handle in handles:
            handle.dispose()
    summary = LoadSummary(
        run_id=run_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        full_refresh=full_refresh,
        tables=tuple(loads),
        rules=counts,
    )
    record_run(backends.warehouse, summary)
    emit(on_event, "etl", "done", done=summary.rows_written, run_id=run_id)
    return summary
