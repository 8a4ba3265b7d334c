"""Client source connections: SQLAlchemy URLs and engines built from a ``SourceConnection``.

The password comes from the client's secrets backend and exists only inside the URL object
handed to SQLAlchemy; anything printed uses :meth:`SourceHandle.safe_url` (password hidden).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from b2brec.backends.secrets import SecretNotFound, SecretStore
from b2brec.etl.errors import MISSING_FILE, SECRET_MISSING, EtlError
from b2brec.spec import SourceConnection, SourceKind

CONNECT_TIMEOUT_SECONDS = 5
"""Short connect timeout, so an unreachable host fails the connection test quickly."""

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


def connect_args(kind: SourceKind, timeout: int = CONNECT_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Driver arguments that bound how long connecting may take."""
    if kind is SourceKind.POSTGRESQL:
        return {"connect_timeout": timeout}
    if kind is SourceKind.MYSQL:
        return {"connect_timeout": timeout}
    if kind is SourceKind.MSSQL:
        return {"login_timeout": timeout}
    if kind is SourceKind.SQLITE:
        return {"timeout": timeout}
    return {}


def database_url(conn: SourceConnection, password: str | None, *, home: Path) -> sa.URL:
    """The SQLAlchemy URL of a database source (never rendered with its password)."""
    if not conn.kind.is_database:
        raise EtlError(f"a {conn.kind.value} source is a file source, not a database", code="invalid_request")
    if conn.kind is SourceKind.SQLITE:
        return sa.URL.create("sqlite", database=str(conn.resolved_path(home)))
    return sa.URL.create(
        DRIVERS[conn.kind],
        username=conn.username,
        password=password or None,
        host=conn.host,
        port=conn.effective_port,
        database=conn.database,
    )


@dataclass
class SourceHandle:
    """One resolved source: its connection settings, password and (lazily) its engine."""

    name: str
    conn: SourceConnection
    home: Path
    password: str | None = None
    _engine: sa.Engine | None = field(default=None, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never leave this process in text."""
        return (self.password,) if self.password else ()

    @property
    def url(self) -> sa.URL:
        return database_url(self.conn, self.password, home=self.home)

    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def describe(self) -> str:
        """Where the source is, for messages: no password, no URL."""
        conn = self.conn
        if not conn.kind.is_database or conn.kind is SourceKind.SQLITE:
            return f"{conn.kind.value} source '{self.name}' at {conn.resolved_path(self.home)}"
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
                self.url, connect_args=connect_args(self.conn.kind), pool_pre_ping=True, hide_parameters=True
            )
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def path(self) -> Path:
        return self.conn.resolved_path(self.home)


def resolve_source(name: str, conn: SourceConnection, secrets: SecretStore, home: Path) -> SourceHandle:
    """Read the source's password from the secrets backend (if it names one)."""
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
    handle = SourceHandle(name=name, conn=conn, home=home, password=password)
    if conn.kind is SourceKind.SQLITE and not handle.path().is_file():
        # SQLite would silently create an empty file: refuse instead.
        raise EtlError(
            f"the SQLite file of source '{name}' does not exist: {handle.path()}.",
            code=MISSING_FILE,
            fix=f"check sources.{name}.path in the client spec, or generate the data first.",
        )
    return handle
