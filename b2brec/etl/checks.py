"""Connection test: can the platform read every mapped table and column of a client?

Each source gets a *connection* check, each mapped table a *table* check (table exists,
columns exist and have usable types). Failures carry a stable code and a fix a business
user can apply; no message ever contains a password or a connection string with one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from b2brec.backends.secrets import SecretStore
from b2brec.context import ClientContext
from b2brec.etl import files
from b2brec.etl.errors import (
    BAD_CREDENTIALS,
    HOST_UNREACHABLE,
    INVALID_REQUEST,
    SOURCE_ERROR,
    UNKNOWN_DATABASE,
    EtlError,
    classify_connect_error,
)
from b2brec.etl.mapping import reflect_table, resolve_columns, resolve_derived
from b2brec.etl.sources import SourceHandle, resolve_source
from b2brec.features import PLATFORM_TABLES
from b2brec.progress import OnEvent, emit
from b2brec.settings import Settings
from b2brec.spec import ClientSpec


@dataclass(frozen=True)
class Check:
    """One line of the connection test."""

    source: str
    target: str  # "connection" or a platform table name
    ok: bool
    detail: str
    code: str | None = None
    fix: str = ""


@dataclass(frozen=True)
class ConnectionReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)

    def raise_for_failure(self) -> None:
        """Raise the first failure as an :class:`EtlError` (its code and fix kept)."""
        for check in self.failures:
            raise EtlError(check.detail, code=check.code, fix=check.fix)


@dataclass
class Prepared:
    """What a successful check learnt about one platform table, reused by the load."""

    table_name: str
    handle: SourceHandle
    sql_table: sa.Table | None = None
    file_paths: list[Path] = field(default_factory=list)


def select_tables(spec: ClientSpec, tables: list[str] | None) -> list[str]:
    """Validate ``--table`` names; default to every mapped table (products/customers before transactions)."""
    mapped: list[str] = [name for name in ("customers", "products", "transactions") if name in spec.mapping]
    if not mapped:
        raise EtlError(
            f"client {spec.client_id} has no table mapping.",
            code=INVALID_REQUEST,
            fix="add a mapping section (transactions at least) to the client spec.",
        )
    if not tables:
        return mapped
    unknown = [t for t in tables if t not in mapped]
    if unknown:
        allowed = ", ".join(mapped)
        platform = ", ".join(PLATFORM_TABLES)
        raise EtlError(
            f"unknown table(s) {', '.join(unknown)} (platform tables: {platform}).",
            code=INVALID_REQUEST,
            fix=f"use --table with one of the mapped tables: {allowed}.",
        )
    return [t for t in mapped if t in tables]


def _connect_failure(handle: SourceHandle, code: str) -> EtlError:
    where = handle.describe()
    key = f"sources.{handle.name}"
    if code == BAD_CREDENTIALS:
        secret = handle.conn.password_secret or "NAME"
        return EtlError(
            f"{where} refused the user name or password (or the user may not open this database).",
            code=code,
            fix=f"check {key}.username and store the right password with "
            f"`b2brec secrets set {secret} --client CLIENT`.",
        )
    if code == UNKNOWN_DATABASE:
        return EtlError(
            f"the database '{handle.conn.database}' does not exist on {where}, or this user may not open it.",
            code=code,
            fix=f"correct {key}.database in the client spec, or grant the user access to that database.",
        )
    # Refused, filtered, unreachable, or something that does not speak the database's protocol:
    # one message, one code and (see _check_connection) one duration, so a connection test cannot
    # be used to tell open ports from closed ones.
    return EtlError(
        f"could not reach {where} within {handle.timeout:g} seconds.",
        code=HOST_UNREACHABLE,
        fix=f"check {key}.host and port, that the database server is running, and that its firewall "
        "accepts connections from the platform.",
    )


def _check_connection(handle: SourceHandle) -> EtlError | None:
    """Connect once and run ``SELECT 1``. Every failure other than bad credentials or an unknown
    database takes exactly the connect timeout before it is reported."""
    started = time.monotonic()
    engine = handle.probe_engine()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        failure = _connect_failure(handle, classify_connect_error(exc))
        if failure.code == HOST_UNREACHABLE:
            time.sleep(max(0.0, started + handle.timeout - time.monotonic()))
        return failure
    finally:
        engine.dispose()
    return None


def _table_failure(exc: sa.exc.SQLAlchemyError, table: str) -> str:
    """What went wrong reading a table, without the driver's text (it may quote connection details)."""
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    args = getattr(orig, "args", ())
    driver_code = args[0] if args and isinstance(args[0], int) else None
    ref = f"SQLSTATE {sqlstate}" if sqlstate else f"error {driver_code}" if driver_code else type(orig or exc).__name__
    if sqlstate == "42501" or driver_code in {1142, 1143}:
        return f"the user may not read table '{table}' ({ref})."
    return f"could not read table '{table}' ({ref})."


def _check_table(spec: ClientSpec, handle: SourceHandle, table_name: str) -> Prepared:
    mapping = spec.mapping[table_name]
    if handle.conn.kind.is_database:
        table = reflect_table(handle.engine(), table_name, mapping, handle.db_schema)
        resolve_columns(table, table_name, mapping)
        resolve_derived(table, table_name, mapping)
        return Prepared(table_name=table_name, handle=handle, sql_table=table)
    paths = files.resolve_files(handle.path(), handle.conn.kind, table_name, mapping)
    for path in paths[:1]:
        files.check_columns(path, handle.conn.kind, table_name, mapping)
    return Prepared(table_name=table_name, handle=handle, file_paths=paths)


def inspect_sources(
    spec: ClientSpec, settings: Settings, secrets: SecretStore, tables: list[str]
) -> tuple[ConnectionReport, dict[str, Prepared], list[SourceHandle]]:
    """Run every check for ``tables``; return the report, what was prepared for loading, and the
    open source handles (the caller disposes them)."""
    checks: list[Check] = []
    handles: list[SourceHandle] = []
    prepared: dict[str, Prepared] = {}
    by_source: dict[str, list[str]] = {}
    for table_name in tables:
        by_source.setdefault(spec.mapping[table_name].source, []).append(table_name)
    for source_name, source_tables in by_source.items():
        conn = spec.sources[source_name]
        try:
            handle = resolve_source(source_name, conn, secrets, spec, settings)
        except EtlError as exc:
            checks.append(Check(source_name, "connection", False, str(exc), exc.code, exc.fix or ""))
            continue
        handles.append(handle)
        if conn.kind.is_database:
            failure = _check_connection(handle)
            if failure is not None:
                checks.append(Check(source_name, "connection", False, str(failure), failure.code, failure.fix or ""))
                continue
        checks.append(Check(source_name, "connection", True, f"connected to {handle.describe()}"))
        for table_name in source_tables:
            try:
                prepared[table_name] = _check_table(spec, handle, table_name)
            except EtlError as exc:
                checks.append(Check(source_name, table_name, False, str(exc), exc.code, exc.fix or ""))
            except sa.exc.SQLAlchemyError as exc:
                message = _table_failure(exc, spec.mapping[table_name].table)
                fix = "check that the user may SELECT from the table; the platform's error log has the details."
                checks.append(Check(source_name, table_name, False, message, SOURCE_ERROR, fix))
            else:
                mapped = spec.mapping[table_name]
                checks.append(
                    Check(source_name, table_name, True, f"{mapped.table}: {len(mapped.columns)} mapped columns ok")
                )
    return ConnectionReport(tuple(checks)), prepared, handles


def test_connection(
    ctx: ClientContext, *, tables: list[str] | None = None, on_event: OnEvent | None = None
) -> ConnectionReport:
    """Check every source and mapped table of a client; never raises for a source problem.

    Events: ``check/start``, one ``check/advance`` per check (``data``: source, target, ok, code),
    ``check/done`` (``done`` = checks passed of ``total``)."""
    selected = select_tables(ctx.spec, tables)
    emit(on_event, "check", "start", total=len(selected), tables=list(selected))
    report, _, handles = inspect_sources(ctx.spec, ctx.settings, ctx.backends.secrets, selected)
    for handle in handles:
        handle.dispose()
    for i, check in enumerate(report.checks, start=1):
        data = {"source": check.source, "target": check.target, "ok": check.ok, "code": check.code}
        emit(on_event, "check", "advance", done=i, total=len(report.checks), message=check.detail, **data)
    passed = sum(check.ok for check in report.checks)
    emit(on_event, "check", "done", done=passed, total=len(report.checks), ok=report.ok)
    return report


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name
