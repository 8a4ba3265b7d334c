"""Object storage over fsspec: a local folder (``file://``) or a GCS bucket (``gs://``).

Both backends are the same class: fsspec already is the abstraction, so the only
difference is the base URL (and gcsfs being installed for ``gs://``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import fsspec
from fsspec import AbstractFileSystem


class ObjectStore:
    """A bucket-like namespace of objects addressed by relative keys (``datasets/run1/x.json``)."""

    def __init__(self, base_url: str, *, fs: AbstractFileSystem | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        if fs is None:
            fs, _ = fsspec.core.url_to_fs(self.base_url)
        self.fs = fs
        self._root = self.fs._strip_protocol(self.base_url)

    def url(self, key: str = "") -> str:
        """Full URL of ``key`` (what stage entrypoints receive as arguments)."""
        return f"{self.base_url}/{key.lstrip('/')}" if key else self.base_url

    def _path(self, key: str) -> str:
        if ".." in key.split("/"):
            raise ValueError(f"object key {key!r} must not contain '..'")
        return posixpath.join(self._root, key.lstrip("/"))

    @contextmanager
    def open(self, key: str, mode: str = "rb", **kwargs: Any) -> Iterator[IO[Any]]:
        if "w" in mode:
            self.fs.makedirs(posixpath.dirname(self._path(key)), exist_ok=True)
        with self.fs.open(self._path(key), mode, **kwargs) as handle:
            yield handle

    def write_bytes(self, key: str, data: bytes) -> None:
        with self.open(key, "wb") as handle:
            handle.write(data)

    def read_bytes(self, key: str) -> bytes:
        with self.open(key, "rb") as handle:
            return handle.read()

    def write_text(self, key: str, text: str) -> None:
        self.write_bytes(key, text.encode("utf-8"))

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def exists(self, key: str) -> bool:
        return self.fs.exists(self._path(key))

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (recursive), relative to the store's base."""
        base = self._path(prefix)
        if not self.fs.exists(base):
            return []
        found = self.fs.find(base)
        return sorted(posixpath.relpath(self.fs._strip_protocol(p), self._root) for p in found)

    def delete(self, key: str, *, recursive: bool = False) -> None:
        path = self._path(key)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=recursive)

    def put_file(self, local_path: str, key: str) -> None:
        self.fs.makedirs(posixpath.dirname(self._path(key)), exist_ok=True)
        self.fs.put_file(local_path, self._path(key))
