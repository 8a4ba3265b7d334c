"""Compare-and-swap writes: a stale writer loses (locally and on GCS), and concurrent processes
incrementing one counter lose no update."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined]

from b2brec.backends.storage import ObjectStore
from b2brec.backends.versioned import (
    GcsVersionedStore,
    LocalVersionedStore,
    VersionConflict,
    versioned,
)
from tests.conftest import REPO_ROOT
from tests.core.gcs_http import GcsHttp

INCREMENT = """
import json, sys
from pathlib import Path
from b2brec.backends.versioned import LocalVersionedStore, VersionConflict
store, n = LocalVersionedStore(Path(sys.argv[1])), int(sys.argv[2])
conflicts = 0
for _ in range(n):
    while True:
        current = store.read("counter.json")
        value = json.loads(current.data)["value"]
        try:
            store.write("counter.json", json.dumps({"value": value + 1}).encode(), if_generation=current.generation)
            break
        except VersionConflict:
            conflicts += 1
print(conflicts)
"""


def test_local_write_needs_the_generation_it_read(tmp_path: Path) -> None:
    store = LocalVersionedStore(tmp_path)
    assert store.read("runs/r1/state.json") is None
    first = store.write("runs/r1/state.json", b'{"n": 1}', if_generation=None)
    with pytest.raises(VersionConflict, match="exists"):
        store.write("runs/r1/state.json", b'{"n": 9}', if_generation=None)
    second = store.write("runs/r1/state.json", b'{"n": 2}', if_generation=first)
    with pytest.raises(VersionConflict, match="changed since it was read"):
        store.write("runs/r1/state.json", b'{"n": 3}', if_generation=first)  # a stale writer
    found = store.read("runs/r1/state.json")
    assert found is not None and found.data == b'{"n": 2}' and found.generation == second
    assert store.list("runs/") == ["runs/r1/state.json"]  # lock files are not objects
    with pytest.raises(ValueError, match="without '..'"):
        store.read("../outside.json")


def test_concurrent_processes_lose_no_increment(tmp_path: Path) -> None:
    store = LocalVersionedStore(tmp_path)
    store.write("counter.json", b'{"value": 0}', if_generation=None)
    workers = [
        subprocess.Popen([sys.executable, "-c", INCREMENT, str(tmp_path), "40"], cwd=REPO_ROOT, stdout=subprocess.PIPE)
        for _ in range(4)
    ]
    conflicts = [int(w.communicate(timeout=120)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    found = store.read("counter.json")
    assert found is not None and json.loads(found.data) == {"value": 160}  # 4 x 40, none lost
    print("conflicts retried:", conflicts)


def _gcs(http: GcsHttp) -> GcsVersionedStore:
    client = storage.Client(project="client-acme-prod", credentials=AnonymousCredentials(), _http=http)
    return GcsVersionedStore(http.bucket, "state", client=client)


def test_gcs_writes_carry_if_generation_match() -> None:
    http = GcsHttp("client-acme-prod-data")
    store = _gcs(http)
    assert store.read("runs/r1/state.json") is None
    created = store.write("runs/r1/state.json", b'{"n": 1}', if_generation=None)
    uploads = [s for s in http.sent if s.method == "POST"]
    assert uploads[-1].params["ifGenerationMatch"] == "0"  # create only if absent
    assert uploads[-1].url.startswith("https://storage.googleapis.com/upload/storage/v1/b/client-acme-prod-data/o")

    found = store.read("runs/r1/state.json")
    assert found is not None and found.generation == created and found.data == b'{"n": 1}'
    store.write("runs/r1/state.json", b'{"n": 2}', if_generation=found.generation)
    assert [s for s in http.sent if s.method == "POST"][-1].params["ifGenerationMatch"] == created

    with pytest.raises(VersionConflict):  # GCS answered 412: the stale generation lost
        store.write("runs/r1/state.json", b'{"n": 3}', if_generation=created)
    with pytest.raises(VersionConflict):
        store.write("runs/r1/state.json", b'{"n": 3}', if_generation=None)
    assert http.objects["state/runs/r1/state.json"][0] == b'{"n": 2}'
    assert store.list("runs/") == ["runs/r1/state.json"]


def test_versioned_picks_the_implementation_from_the_store_url(tmp_path: Path) -> None:
    assert isinstance(versioned(ObjectStore(tmp_path.as_uri())), LocalVersionedStore)
    gcs = versioned(ObjectStore("gs://client-acme-prod-data/state", fs=ObjectStore(tmp_path.as_uri()).fs))
    assert isinstance(gcs, GcsVersionedStore)
    assert (gcs.bucket_name, gcs.prefix) == ("client-acme-prod-data", "state")
