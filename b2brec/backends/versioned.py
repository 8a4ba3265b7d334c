"""Compare-and-swap writes of small objects (run records, the live-model pointer) in object storage.

Several writers may update the same object at once: a Celery worker advancing a pipeline run, a
web request cancelling it, a second worker after the first was killed. Each reads the object with
a *generation* and writes only if the object still has that generation; the loser gets
``VersionConflict``, reloads and decides again. Nothing here locks across hosts.

- Local folder (``file://``): the generation is the SHA-256 of the bytes. A write takes an
  exclusive ``flock`` on ``{key}.lock``, compares the current bytes' hash with the expected one,
  then writes a temporary file and ``os.replace``-s it (readers never see half a file).
  Comparing content is safe for records that change whenever they are written (each carries its
  ``updated_at``): an unchanged content is the same state, so writing over it is correct.
- GCS (``gs://``): the object's generation number, sent as ``ifGenerationMatch`` (``0`` = the
  object must not exist yet); GCS answers 412 when another writer won.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from b2brec.backends.storage import ObjectStore
from b2brec.errors import B2BRecError


class VersionConflict(B2BRecError):
    """Another writer changed the object since it was read; reload and retry."""

    code = "version_conflict"


@dataclass(frozen=True)
class Versioned:
    data: bytes
    generation: str


class VersionedStore(Protocol):
    def read(self, key: str) -> Versioned | None:
        """The object and its generation, or None when it does not exist."""
        ...

    def write(self, key: str, data: bytes, *, if_generation: str | None) -> str:
        """Write ``data`` if the object still has ``if_generation`` (None: if it does not exist
        yet); returns the new generation, raises ``VersionConflict`` otherwise."""
        ...

    def list(self, prefix: str = "") -> list[str]: ...


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalVersionedStore:
    """CAS over a local folder: an exclusive ``flock`` per key around compare-then-replace."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        parts = key.strip("/").split("/")
        if not key.strip("/") or ".." in parts or any(not p for p in parts):
            raise ValueError(f"object key {key!r} must be a relative path without '..' or empty parts")
        return self.root.joinpath(*parts)

    def read(self, key: str) -> Versioned | None:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        return Versioned(data, _digest(data))

    def write(self, key: str, data: bytes, *, if_generation: str | None) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.with_name(path.name + ".lock")
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                current = self.read(key)
                found = current.generation if current is not None else None
                if found != if_generation:
                    state = "exists" if if_generation is None else "changed" if found else "was deleted"
                    raise VersionConflict(f"{key} {state} since it was read; reload it and retry")
                tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
                with open(tmp, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        return _digest(data)

    def list(self, prefix: str = "") -> list[str]:
        base = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith((".lock", ".tmp"))
        )


class GcsVersionedStore:
    """CAS over a GCS bucket with ``google-cloud-storage``: generation preconditions on every write."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None) -> None:
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import storage  # type: ignore[attr-defined]

            self._client = storage.Client()
        return self._client

    def _name(self, key: str) -> str:
        if ".." in key.split("/"):
            raise ValueError(f"object key {key!r} must not contain '..'")
        return posixpath.join(self.prefix, key.lstrip("/")) if self.prefix else key.lstrip("/")

    def read(self, key: str) -> Versioned | None:
        from google.api_core.exceptions import NotFound

        blob = self.client.bucket(self.bucket_name).blob(self._name(key))
        try:
            data = blob.download_as_bytes()
        except NotFound:
            return None
        return Versioned(data, str(blob.generation))

    def write(self, key: str, data: bytes, *, if_generation: str | None) -> str:
        from google.api_core.exceptions import PreconditionFailed

        blob = self.client.bucket(self.bucket_name).blob(self._name(key))
        expected = 0 if if_generation is None else int(if_generation)
        try:
            blob.upload_from_string(data, content_type="application/json", if_generation_match=expected)
        except PreconditionFailed:
            raise VersionConflict(f"{key} changed since it was read; reload it and retry") from None
        return str(blob.generation)

    def list(self, prefix: str = "") -> list[str]:
        start = self._name(prefix) if prefix else self.prefix
        cut = len(self.prefix) + 1 if self.prefix else 0
        return sorted(b.name[cut:] for b in self.client.list_blobs(self.bucket_name, prefix=start))


@functools.cache
def _gcs_store(bucket: str, prefix: str) -> GcsVersionedStore:
    """One store (and one authenticated client) per bucket and prefix: serving polls every few seconds."""
    return GcsVersionedStore(bucket, prefix)


def versioned(store: ObjectStore) -> VersionedStore:
    """The CAS view of ``store``: local folder or GCS bucket, chosen by its URL."""
    url = store.url()
    if url.startswith("file://"):
        return LocalVersionedStore(Path(store.fs._strip_protocol(url)))
    if url.startswith("gs://"):
        bucket, _, prefix = url.removeprefix("gs://").partition("/")
        return _gcs_store(bucket, prefix)
    raise B2BRecError(
        f"{url}: compare-and-swap writes need a file:// folder or a gs:// bucket", code="invalid_settings"
    )
