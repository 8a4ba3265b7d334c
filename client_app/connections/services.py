"""Connections: validate and save, store the password as a secret, test, introspect, map, preview.

The password goes to the client's secrets backend (``source-{name}-password``) and is never read
back into a page. A host is checked with the shared hostile-host rules (``check_host``) when it is
saved and again whenever it is used, and the connection is made to the address it resolved to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from b2brec.etl import test_connection
from b2brec.etl.checks import Check
from b2brec.etl.errors import EtlError, classify_connect_error, scrub
from b2brec.etl.files import file_columns
from b2brec.etl.mapping import mapped_select, reflect_table
from b2brec.etl.sources import resolve_source
from b2brec.features import PLATFORM_TABLES
from b2brec.security import check_host, confine
from b2brec.spec import ClientSpec, SourceConnection, SourceKind
from client_app import activity, validation
from client_app.client import current_client
from client_app.connections.proposal import propose
from client_app.errors import AppError
from client_app.extensions import db
from client_app.models import Connection, utcnow

DATABASE_KINDS: tuple[str, ...] = ("postgresql", "mysql", "mssql")
FILE_KINDS: tuple[str, ...] = ("csv", "parquet")
KIND_LABELS = {
    "postgresql": "PostgreSQL",
    "mysql": "MySQL / MariaDB",
    "mssql": "SQL Server",
    "csv": "CSV files",
    "parquet": "Parquet files",
}
_DB_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_$.-]{0,127}$"


def secret_name(name: str) -> str:
    return f"source-{name}-password"


def uploads_root() -> Path:
    """The client's upload area (file sources are confined to it; ETL reads them from there)."""
    root = current_client().backends.upload_area
    if root is None:
        raise AppError("file uploads are not read on backend=gcp yet", fix="use a database source")
    root.mkdir(parents=True, exist_ok=True)
    return root


def file_folder(conn: Connection) -> Path:
    return confine(conn.name, uploads_root())


def resolved_host(host: str, port: int | None) -> str:
    """The one address to connect to; the operator's allow-list for this client applies."""
    client = current_client()
    return check_host(host, port, allowed=client.settings.allowed_hosts(client.base_spec.client_id)).address


def get(connection_id: int) -> Connection:
    conn = db.session.get(Connection, connection_id)
    if conn is None:
        raise AppError(f"no connection {connection_id}", code="not_found", fix="pick one from the connections page")
    return conn


def all_connections() -> list[Connection]:
    return list(db.session.scalars(db.select(Connection).order_by(Connection.name)))


def _text(value: Any, field: str, pattern: str | None = None) -> str:
    cleaned = validation.text(value, field, max_len=128)
    if pattern and not re.match(pattern, cleaned):
        raise AppError(f"{field} {cleaned[:40]!r} has characters a {field} cannot have", fix=f"check the {field}")
    return cleaned


def save_database(form: dict[str, Any], *, connection_id: int | None = None) -> Connection:
    """Create or update a database connection. Nothing is stored unless every field passes."""
    existing = get(connection_id) if connection_id is not None else None
    name = existing.name if existing else validation.identifier(form.get("name"), "name")
    if existing is None and db.session.scalar(db.select(Connection).where(Connection.name == name)):
        raise AppError(f"a connection named {name} exists", code="conflict", fix="pick another name, or edit it")
    kind = validation.choice(form.get("kind"), "kind", DATABASE_KINDS)
    port = validation.integer(form.get("port"), "port", low=1, high=65535, default=_default_port(kind))
    host = validation.text(form.get("host"), "host", max_len=253)
    resolved_host(host, port)
    database = _text(form.get("database"), "database", _DB_NAME)
    schema = form.get("db_schema") or ""
    db_schema = _text(schema, "schema", _DB_NAME) if str(schema).strip() else None
    username = _text(form.get("username"), "user name", r"^[A-Za-z0-9_.@$-]+$")
    password = form.get("password") or ""
    if existing is None and not password:
        raise AppError("the password is empty", fix="enter the database user's password")
    if password and (len(password) > 1024 or "\x00" in password):
        raise AppError("the password is not usable", fix="enter the password as plain text (at most 1024 characters)")
    conn = existing or Connection(name=name, mapping={})
    conn.kind, conn.host, conn.port, conn.database = kind, host.strip(), port, database
    conn.db_schema, conn.username, conn.path = db_schema, username, None
    conn.password_secret = secret_name(name)
    if password:
        current_client().backends.secrets.put(conn.password_secret, password)
    conn.last_test_ok = None
    if existing is None:
        db.session.add(conn)
    activity.record("connection.update" if existing else "connection.create", name, f"{kind} {host}:{port}")
    db.session.commit()
    return conn


def _default_port(kind: str) -> int:
    return {"postgresql": 5432, "mysql": 3306, "mssql": 1433}[kind]


def save_upload(form: dict[str, Any], files: Iterable[FileStorage]) -> Connection:
    """A file source: CSV or Parquet files saved in the client's upload area, one folder per connection."""
    name = validation.identifier(form.get("name"), "name")
    kind = validation.choice(form.get("kind"), "kind", FILE_KINDS)
    uploads = [f for f in files if f and f.filename]
    if not uploads:
        raise AppError("no file was uploaded", fix=f"choose one or more .{kind} files")
    folder = confine(name, uploads_root())
    saved: list[Path] = []
    for upload in uploads:
        filename = secure_filename(upload.filename or "")
        if not filename.lower().endswith(f".{kind}"):
            raise AppError(f"{(upload.filename or '')[:60]!r} is not a .{kind} file", fix=f"upload .{kind} files only")
        saved.append(confine(Path(name) / filename, uploads_root()))
    folder.mkdir(parents=True, exist_ok=True)
    for upload, target in zip(uploads, saved, strict=True):
        upload.save(target)
    conn = db.session.scalar(db.select(Connection).where(Connection.name == name)) or Connection(name=name, mapping={})
    conn.kind, conn.path, conn.host, conn.port, conn.database, conn.username = kind, name, None, None, None, None
    conn.password_secret = None
    db.session.add(conn)
    activity.record("connection.upload", name, ", ".join(p.name for p in saved))
    db.session.commit()
    return conn


def delete(connection_id: int) -> None:
    conn = get(connection_id)
    if conn.password_secret:
        current_client().backends.secrets.delete(conn.password_secret)
    db.session.delete(conn)
    activity.record("connection.delete", conn.name)
    db.session.commit()


def source_of(conn: Connection) -> SourceConnection:
    """The spec's view of a connection (the ETL resolves the host again and connects by address)."""
    if conn.kind in FILE_KINDS:
        return SourceConnection(kind=SourceKind(conn.kind), path=conn.name)  # relative to the upload area
    resolved_host(conn.host or "", conn.port)  # refused early, with its fix; the ETL checks it again
    return SourceConnection(
        kind=SourceKind(conn.kind),
        host=conn.host,
        port=conn.port,
        database=conn.database,
        db_schema=conn.db_schema,
        username=conn.username,
        password_secret=conn.password_secret,
    )


def effective_spec() -> ClientSpec:
    """The client's spec with the sources and mappings configured in the app (these win per table)."""
    base = current_client().base_spec
    mapped = [c for c in all_connections() if c.mapping]
    if not mapped:
        return base
    data = base.model_dump(mode="json")
    data["sources"] = {**data["sources"], **{c.name: source_of(c).model_dump(mode="json") for c in mapped}}
    for conn in mapped:
        for table, mapping in conn.mapping.items():
            data["mapping"][table] = {"source": conn.name, **mapping}
    return validated_spec(data)


def _single_source_spec(conn: Connection) -> ClientSpec:
    data = current_client().base_spec.model_dump(mode="json")
    data["sources"] = {conn.name: source_of(conn).model_dump(mode="json")}
    data["mapping"] = {table: {"source": conn.name, **m} for table, m in conn.mapping.items()}
    return validated_spec(data)


def validated_spec(data: dict[str, Any]) -> ClientSpec:
    """A spec from app data; the spec's own rule violations come back as a fixable AppError."""
    try:
        return ClientSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise AppError(f"the mapping is not usable: {first['msg']}", fix="adjust the column mapping") from None


def _handle(conn: Connection) -> Any:
    client = current_client()
    return resolve_source(conn.name, source_of(conn), client.backends.secrets, client.base_spec, client.settings)


def test(connection_id: int) -> list[Check]:
    """Every check of the connection test (connection, then each mapped table), each with its fix."""
    conn = get(connection_id)
    try:
        if conn.mapping:
            checks = list(test_connection(current_client().context_with(_single_source_spec(conn))).checks)
        else:
            checks = [_connection_only(conn)]
    except EtlError as exc:
        checks = [Check(conn.name, "connection", False, str(exc), exc.code, exc.fix or "")]
    conn.last_test_ok = all(c.ok for c in checks)
    conn.last_tested_at = utcnow()
    activity.record("connection.test", conn.name, "passed" if conn.last_test_ok else "failed")
    db.session.commit()
    return checks


def _connection_only(conn: Connection) -> Check:
    if conn.kind in FILE_KINDS:
        folder = file_folder(conn)
        found = sorted(p.name for p in folder.glob(f"*.{conn.kind}")) if folder.is_dir() else []
        if not found:
            return Check(conn.name, "connection", False, "no files uploaded yet", "missing_file", "upload the files")
        return Check(conn.name, "connection", True, f"{len(found)} file(s): {', '.join(found[:5])}")
    handle = _handle(conn)
    try:
        with handle.probe_engine().connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        code = classify_connect_error(exc)
        return Check(conn.name, "connection", False, f"could not connect ({code.replace('_', ' ')})", code, _fix(code))
    finally:
        handle.dispose()
    return Check(conn.name, "connection", True, f"connected to {handle.describe()}")


def _fix(code: str) -> str:
    return {
        "bad_credentials": "check the user name and enter the password again",
        "host_unreachable": "check host and port, that the server runs and its firewall admits the platform",
        "unknown_database": "correct the database name",
    }.get(code, "check the connection settings")


def introspect(connection_id: int) -> dict[str, list[str]]:
    """Table → column names of the source (files: file stem → header)."""
    conn = get(connection_id)
    if conn.kind in FILE_KINDS:
        folder = file_folder(conn)
        return {p.stem: file_columns(p, SourceKind(conn.kind)) for p in sorted(folder.glob(f"*.{conn.kind}"))}
    handle = _handle(conn)
    try:
        inspector = sa.inspect(handle.engine())
        schema = conn.db_schema
        return {
            t: [c["name"] for c in inspector.get_columns(t, schema=schema)] for t in inspector.get_table_names(schema)
        }
    except sa.exc.SQLAlchemyError as exc:
        detail = scrub(str(exc).splitlines()[0], handle.secrets)
        raise AppError(
            f"could not read the schema: {detail[:200]}", code="invalid_request", fix="test the connection"
        ) from None
    finally:
        handle.dispose()


def proposed_mapping(connection_id: int) -> dict[str, dict[str, object]]:
    conn = get(connection_id)
    return conn.mapping or propose(introspect(connection_id))


def parse_mapping(form: dict[str, Any], schema: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Read the mapping editor's fields (``{table}__table``, ``{table}__{column}``), checked against the schema."""
    mapping: dict[str, dict[str, Any]] = {}
    for platform, table_def in PLATFORM_TABLES.items():
        source_table = str(form.get(f"{platform}__table") or "").strip()
        if not source_table:
            continue
        if source_table not in schema:
            raise AppError(f"{platform}: the source has no table {source_table[:60]!r}", fix="pick a listed table")
        columns: dict[str, str] = {}
        for column in table_def.column_names:
            chosen = str(form.get(f"{platform}__{column}") or "").strip()
            if not chosen:
                continue
            if chosen not in schema[source_table]:
                raise AppError(
                    f"{platform}.{column}: {source_table} has no column {chosen[:60]!r}", fix="pick a listed column"
                )
            columns[column] = chosen
        cursor = "updated_at" if "updated_at" in columns else None
        missing = [c for c in table_def.required_columns if c not in columns]
        if missing:
            raise AppError(f"{platform}: required columns {', '.join(missing)} are not mapped", fix="map them")
        mapping[platform] = {"table": source_table, "columns": columns, "cursor": cursor}
    if not mapping:
        raise AppError("nothing is mapped", fix="pick the source table of at least the transactions")
    return mapping


def save_mapping(connection_id: int, form: dict[str, Any]) -> Connection:
    conn = get(connection_id)
    mapping = parse_mapping(form, introspect(connection_id))
    others = {t for c in all_connections() if c.id != conn.id for t in c.mapping}
    clash = sorted(others & set(mapping))
    if clash:
        raise AppError(f"{', '.join(clash)} already come from another connection", fix="unmap them there first")
    conn.mapping = mapping
    _single_source_spec(conn)  # the spec's own rules (revenue, or quantity x price, ...) before saving
    activity.record("connection.mapping", conn.name, ", ".join(sorted(mapping)))
    db.session.commit()
    return conn


def preview(connection_id: int, platform: str, limit: int = 10) -> dict[str, Any]:
    """The first mapped rows of one platform table, with platform column names."""
    conn = get(connection_id)
    if platform not in conn.mapping:
        raise AppError(f"{platform} is not mapped on {conn.name}", fix="save a mapping first")
    spec = _single_source_spec(conn)
    mapping = spec.mapping[platform]
    if conn.kind in FILE_KINDS:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        path = file_folder(conn) / f"{mapping.table}.{conn.kind}"
        table = pacsv.read_csv(path) if conn.kind == "csv" else pq.read_table(path)
        rows = table.select(list(mapping.columns.values())).slice(0, limit).to_pylist()
        renamed = [{k: row[v] for k, v in mapping.columns.items()} for row in rows]
        return {"columns": list(mapping.columns), "rows": renamed}
    handle = _handle(conn)
    try:
        engine = handle.engine()
        table = reflect_table(engine, platform, mapping, handle.db_schema)
        subquery = mapped_select(table, platform, mapping, engine.dialect.name)
        with engine.connect() as connection:
            result = connection.execute(sa.select(subquery).limit(limit))
            columns = list(result.keys())
            rows = [dict(zip(columns, (_show(v) for v in row), strict=True)) for row in result]
    except EtlError as exc:
        raise AppError(exc.args[0], code=exc.code, fix=exc.fix) from None
    finally:
        handle.dispose()
    return {"columns": columns, "rows": rows}


def _show(value: Any) -> Any:
    return value if isinstance(value, int | float | str) or value is None else str(value)
