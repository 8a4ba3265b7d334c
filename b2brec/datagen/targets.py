"""Where generated data goes: a SQLAlchemy database URL or a ``file://`` folder.

URLs are normalised to the drivers the platform ships (psycopg 3, pymysql) and are only
ever shown with the password hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from b2brec.datagen.config import DatagenError
from b2brec.security.masking import mask_secrets

FILE_FORMATS = ("csv", "parquet")
SUPPORTED = (
    "sqlite:///path/to/erp.sqlite, postgresql+psycopg://user:pass@host:5432/db, "
    "mysql+pymysql://user:pass@host:3306/db (MariaDB too), file:///path/to/folder"
)
_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_ALLOWED_DRIVERS = {
    "sqlite": {None, "pysqlite"},
    "postgresql": {None, "psycopg"},
    "mysql": {None, "pymysql"},
    "mariadb": {None, "pymysql"},
}


@dataclass(frozen=True)
class FileTarget:
    folder: Path
    file_format: str

    @property
    def safe(self) -> str:
        return f"file://{self.folder} ({self.file_format})"


@dataclass(frozen=True)
class SqlTarget:
    url: URL

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def safe(self) -> str:
        return safe_url(self.url)

    def engine(self) -> Engine:
        return sa.create_engine(self.url)


def safe_url(url: str | URL) -> str:
    """The URL with its password masked; falls back to a generic label if it does not parse."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def parse_target(target: str, file_format: str | None = None) -> FileTarget | SqlTarget:
    """Validate a ``--to`` value and pick the driver; raises ``DatagenError`` naming what is supported."""
    if not isinstance(target, str) or not target.strip():
        raise DatagenError(f"no target given; use one of: {SUPPORTED}")
    if target.startswith("file:"):
        fmt = (file_format or "csv").lower()
        if fmt not in FILE_FORMATS:
            raise DatagenError(f"unknown file format {file_format!r}; use one of: {', '.join(FILE_FORMATS)}")
        path = unquote(urlparse(target).path)
        if not path or not target.startswith("file://"):
            raise DatagenError(f"file target {target!r} needs a folder path, e.g. file:///tmp/erp-export")
        return FileTarget(Path(path), fmt)
    if file_format is not None:
        raise DatagenError("--format applies to file:// targets only; databases get tables")
    try:
        url = sa.make_url(target)
    except sa.exc.ArgumentError:
        raise DatagenError(f"{safe_url(target)!r} is not a database URL; use one of: {SUPPORTED}") from None
    backend, driver = url.get_backend_name(), (url.get_driver_name() if "+" in url.drivername else None)
    if backend not in _DRIVERS:
        raise DatagenError(f"unsupported database {backend!r} in {safe_url(url)}; use one of: {SUPPORTED}")
    if driver not in _ALLOWED_DRIVERS[backend]:
        raise DatagenError(f"driver {driver!r} is not installed for {backend}; use {_DRIVERS[backend]}:// instead")
    url = url.set(drivername=_DRIVERS[backend])
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise DatagenError("an in-memory SQLite database would vanish; give a file, e.g. sqlite:///erp.sqlite")
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif backend in {"mysql", "mariadb"} and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return SqlTarget(url)


def describe_db_error(target: SqlTarget, exc: Exception) -> DatagenError:
    """A user-safe message for a driver error (first line only, credentials masked)."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    password = target.url.password
    # Masked by structure, never by replacing the password's substrings (see b2brec.security.masking).
    reason = mask_secrets(reason, [str(password)] if password else [])
    return DatagenError(f"database {target.safe} failed: {reason[:300]}")
