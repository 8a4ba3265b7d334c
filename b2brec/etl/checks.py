"""Connection test: can the platform read every mapped table and column of a client?

Each source gets a *connection* check, each mapped table a *table* check (table exists,
columns exist and have usable types). Failures carry a stable code and a fix a business
user can apply; no message ever contains a password or a connection string with one.
"""

from __future__ import annotations

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
    scrub,
)
from b2brec.etl.mapping import reflect_table, resolve_columns
from b2brec.etl.sources import CONNECT_TIMEOUT_SECONDS, SourceHandle, resolve_source
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
    if code == HOST_UNREACHABLE:
        return EtlError(
            f"could not reach {where} within {CONNECT_TIMEOUT_SECONDS} seconds.",
            code=code,
            fix=f"check {key}.host and port, that the database server is running, and that its firewall "
            "accepts connections from the platform.",
        )
    if code == UNKNOWN_DATABASE:
        return EtlError(
            f"the database '{handle.conn.database}' does not exist on {where}.",
            code=code,
            fix=f"correct {key}.database in the client spec.",
        )
    return EtlError(
        f"could not connect to {where}.", code=SOURCE_ERROR, fix="see the error log; check the source settings."
    )


def _check_connection(handle: SourceHandle) -> EtlError | None:
    try:
        with handle.engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        failure = _connect_failure(handle, classify_connect_error(exc))
        if failure.code == SOURCE_ERROR:
            failure.fix = f"the driver said: {scrub(str(exc).splitlines()[0], handle.secrets)}"
        return failure
    return None


def _check_table(spec: ClientSpec, handle: SourceHandle, table_name: str) -> Prepared:
    mapping = spec.mapping[table_name]
    if handle.conn.kind.is_database:
        table = reflect_table(handle.engine(), table_name, mapping, handle.db_schema)
        resolve_columns(table, table_name, mapping)
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
            handle = resolve_source(source_name, conn, secrets, settings.home)
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
                detail = scrub(str(exc).splitlines()[0], handle.secrets)
                message = f"could not read the table: {detail}"
                checks.append(Check(source_name, table_name, False, message, SOURCE_ERROR))
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
