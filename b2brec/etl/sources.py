"""Client source connections: SQLAlchemy URLs and engines built from a ``SourceConnection``.

The password comes from the client's secrets backend and exists only inside the URL object
handed to SQLAlchemy; anything printed uses :meth:`SourceHandle.safe_url` (password hidden).

Hostile input is stopped here, before any connection or file read (see docs/security.md):

* a database host goes through :func:`b2brec.security.hosts.check_host` with the operator's
  allow-list for this client (``Settings.source_hosts_allowed``), and the engine connects to the
  address it resolved to, never to the name again;
* a SQLite, CSV or Parquet path is confined to the client's upload area (locally
  ``buckets/{project}-data/uploads/`` inside its project) after symlinks and ``..`` are resolved.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from b2brec.backends.factory import file_upload_area
from b2brec.backends.secrets import SecretNotFound, SecretStore
from b2brec.etl.errors import HOST_REFUSED, MISSING_FILE, PATH_REFUSED, SECRET_MISSING, EtlError
from b2brec.security.hosts import HostRefused, check_host
from b2brec.security.paths import PathRefused, confine, refuse_shared_file
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, SourceConnection, SourceKind

CONNECT_TIMEOUT_SECONDS = 5
"""Default of ``Settings.source_connect_timeout_s``: the one connect timeout (test and load)."""

DRIVERS: dict[SourceKind, str] = {
    SourceKind.POSTGRESQL: "postgresql+psycopg",
    SourceKind.MYSQL: "mysql+pymysql",
    SourceKind.MSSQL: "mssql+pymssql",
    SourceKind.SQLITE: "sqlite",
}


CONNECTORX_KINDS = frozenset({SourceKind.POSTGRESQL, SourceKind.MYSQL})
"""Sources read with ConnectorX (Rust, binary protocol straight into Arrow: ~5x faster than
building Arrow from Python rows). Both are tested against real servers; SQL Server and SQLite
keep dlt's ``pyarrow`` backend (rows fetched by the SQLAlchemy driver)."""

TableBackend = Literal["connectorx", "pyarrow"]


def table_backend(kind: SourceKind) -> TableBackend:
    """dlt ``sql_table`` backend for a database source: ConnectorX where supported and installed."""
    if kind in CONNECTORX_KINDS and importlib.util.find_spec("connectorx") is not None:
        return "connectorx"
    return "pyarrow"


def connect_args(
    kind: SourceKind, timeout: float = CONNECT_TIMEOUT_SECONDS, *, handshake: bool = False
) -> dict[str, Any]:
    """Driver arguments that bound how long connecting may take.

    ``handshake=True`` (the connection test) also bounds MySQL's reads, so a server that accepts
    the TCP connection but never greets fails after the same timeout instead of hanging."""
    seconds = max(1, math.ceil(timeout))
    if kind is SourceKind.POSTGRESQL:
        return {"connect_timeout": seconds}
    if kind is SourceKind.MYSQL:
        extra = {"read_timeout": seconds, "write_timeout": seconds} if handshake else {}
        return {"connect_timeout": seconds, **extra}
    if kind is SourceKind.MSSQL:
        return {"login_timeout": seconds}
    if kind is SourceKind.SQLITE:
        return {"timeout": seconds}
    return {}


def database_url(
    conn: SourceConnection, password: str | None, *, path: Path | None = None, address: str | None = None
) -> sa.URL:
    """The SQLAlchemy URL of a database source (never rendered with its password).

    ``address`` is the IP :func:`check_host` resolved the host to: the URL carries it instead of
    the name, so neither SQLAlchemy nor ConnectorX resolves the name a second time."""
    if not conn.kind.is_database:
        raise EtlError(f"a {conn.kind.value} source is a file source, not a database", code="invalid_request")
    if conn.kind is SourceKind.SQLITE:
        if path is None:
            raise EtlError("a SQLite source needs its confined path", code="invalid_request")
        return sa.URL.create("sqlite", database=str(path))
    return sa.URL.create(
        DRIVERS[conn.kind],
        username=conn.username,
        password=password or None,
        host=address or conn.host,
        port=conn.effective_port,
        database=conn.database,
    )


@dataclass
class SourceHandle:
    """One resolved source: its connection settings, password and (lazily) its engine."""

    name: str
    conn: SourceConnection
    password: str | None = None
    location: Path | None = None
    """The confined real path of a SQLite file or a CSV/Parquet folder."""
    address: str | None = None
    """The IP address a server's host resolved to (what the engine connects to)."""
    timeout: float = CONNECT_TIMEOUT_SECONDS
    _engine: sa.Engine | None = field(default=None, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never leave this process in text."""
        return (self.password,) if self.password else ()

    @property
    def url(self) -> sa.URL:
        return database_url(self.conn, self.password, path=self.location, address=self.address)

    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def describe(self) -> str:
        """Where the source is, for messages: no password, no URL."""
        conn = self.conn
        if not conn.kind.needs_server:
            return f"{conn.kind.value} source '{self.name}' at {conn.path} in the upload area"
        return (
            f"{conn.kind.value} source '{self.name}' (database '{conn.database}' on "
            f"{conn.host}:{conn.effective_port}, user '{conn.username}')"
        )

    @property
    def db_schema(self) -> str | None:
        return self.conn.db_schema

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(
                self.url,
                connect_args=connect_args(self.conn.kind, self.timeout),
                pool_pre_ping=True,
                hide_parameters=True,
            )
        return self._engine

    def probe_engine(self) -> sa.Engine:
        """A throw-away engine for the connection test: no pool, every step bounded by the timeout."""
        return sa.create_engine(
            self.url,
            connect_args=connect_args(self.conn.kind, self.timeout, handshake=True),
            poolclass=sa.pool.NullPool,
            hide_parameters=True,
        )

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def path(self) -> Path:
        if self.location is None:
            raise EtlError(f"source '{self.name}' has no file path", code="invalid_request")
        return self.location


def source_path(name: str, conn: SourceConnection, spec: ClientSpec, settings: Settings) -> Path:
    """The real path of a file source, confined to the client's upload area.

    ``path`` is relative to the upload area (``sales`` or ``exports/2026``); an absolute path (or
    one starting with ``${B2BREC_HOME}``) must lead inside it too, after links and ``..``."""
    root = file_upload_area(spec, settings)
    if root is None:
        raise EtlError(
            f"source '{name}': {conn.kind.value} sources are not read on backend=gcp yet.",
            code=PATH_REFUSED,
            fix="load the files into a database the platform can reach, or run the ETL on the local backend.",
        )
    given = (conn.path or "").replace("${B2BREC_HOME}", str(settings.home))
    try:
        real = confine(given, root)
        if real.is_file():  # a SQLite file, opened by its driver: at least no hard link from elsewhere
            refuse_shared_file(real, real.lstat())
        return real
    except PathRefused as exc:
        # The fix names no server path: the client sees the area as its own folder, not where it lives.
        raise EtlError(
            f"source '{name}': {exc}",
            code=PATH_REFUSED,
            fix=f"copy the files into the client's upload area and set sources.{name}.path relative to it.",
        ) from None


def source_address(name: str, conn: SourceConnection, spec: ClientSpec, settings: Settings) -> str:
    """The one IP address to connect to for a database server (operator allow-list applied)."""
    try:
        return check_host(conn.host or "", conn.effective_port, allowed=settings.allowed_hosts(spec.client_id)).address
    except HostRefused as exc:
        raise EtlError(f"source '{name}': {exc}", code=HOST_REFUSED, fix=exc.fix or "") from None


def resolve_source(
    name: str, conn: SourceConnection, secrets: SecretStore, spec: ClientSpec, settings: Settings
) -> SourceHandle:
    """Check where the source points (host or path) before anything else, then read its password
    from the secrets backend (if it names one)."""
    location = address = None
    if conn.kind.needs_server:
        address = source_address(name, conn, spec, settings)
    else:
        location = source_path(name, conn, spec, settings)
    password: str | None = None
    if conn.password_secret:
        try:
            password = secrets.get(conn.password_secret)
        except SecretNotFound:
            raise EtlError(
                f"the password of source '{name}' is not stored (secret '{conn.password_secret}').",
                code=SECRET_MISSING,
                fix=f"store it with `b2brec secrets set {conn.password_secret} --client CLIENT`.",
            ) from None
    handle = SourceHandle(
        name=name,
        conn=conn,
        password=password,
        location=location,
        address=address,
        timeout=settings.source_connect_timeout_s,
    )
    if conn.kind is SourceKind.SQLITE and not handle.path().is_file():
        # SQLite would silently create an empty file: refuse instead.
        raise EtlError(
            f"the SQLite file of source '{name}' does not exist in the client's upload area: {conn.path}.",
            code=MISSING_FILE,
            fix=f"check sources.{name}.path in the client spec, or generate the data first.",
        )
    return handle
