"""Turn the URLs stage entrypoints receive into object stores and local paths (a warehouse URI is
opened by ``b2brec.backends.warehouse.warehouse_from_uri``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from b2brec.backends.storage import ObjectStore


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
