"""Turn the URIs stage entrypoints receive into backends (warehouse, object store, local paths)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import BigQueryWarehouse, DuckDBWarehouse, Warehouse
from trainer.errors import PipelineError


def warehouse_uri_for_duckdb(path: Path) -> str:
    return DuckDBWarehouse(Path(path)).uri


def warehouse_from_uri(uri: str, *, memory_limit: str | None = None) -> Warehouse:
    """``duckdb:///abs/path/warehouse.duckdb`` (read-only) or ``bigquery://project/location``."""
    parsed = urlparse(uri)
    if parsed.scheme == "duckdb":
        path = unquote(parsed.netloc + parsed.path)
        if not Path(path).exists():
            raise PipelineError(f"warehouse file {path} does not exist; create the client project and run the ETL")
        return DuckDBWarehouse(Path(path), read_only=True, memory_limit=memory_limit)
    if parsed.scheme == "bigquery" and parsed.netloc:
        return BigQueryWarehouse(parsed.netloc, parsed.path.strip("/") or "EU")
    raise PipelineError(f"warehouse URI {uri!r} is not duckdb:///path or bigquery://project/location")


def local_path(url: str) -> str:
    """A path Beam and TensorFlow understand: ``file://`` URLs become plain paths, ``gs://`` stays."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return url


def store(url: str) -> ObjectStore:
    """An object store rooted at ``url`` (a plain path is taken as a local folder)."""
    if "://" not in url:
        url = Path(url).resolve().as_uri()
    return ObjectStore(url)
