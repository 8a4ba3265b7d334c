"""A real BigQuery REST API for tests: ``bqemulator`` (DuckDB + sqlglot) started as a server from its own
virtualenv, ``.venv-bqemulator`` (the Makefile's ``$(BQEMU_STAMP)``: its sqlglot pin clashes with ours).

google-cloud-bigquery sends every request to ``BIGQUERY_EMULATOR_HOST`` when it is set, which the
warehouse backend pairs with a static token (``b2brec.backends.warehouse.emulator_credentials``), so the
backend's own code (queries, the tables API, streaming inserts, dlt's load jobs) runs unchanged.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT, _unavailable

BQEMU_VENV = REPO_ROOT / ".venv-bqemulator"
START_TIMEOUT_S = 90.0

# DuckDB's spatial extension is required at start-up and is normally downloaded from DuckDB's own
# server, which is not reachable here: the virtualenv carries it as a PyPI package
# (duckdb-extension-spatial), installed into the emulator's private HOME before it starts.
_INSTALL_SPATIAL = """
import pathlib, duckdb, duckdb_extension_spatial
[path] = pathlib.Path(duckdb_extension_spatial.__file__).parent.glob("extensions/v*/spatial.duckdb_extension")
duckdb.connect().execute(f"INSTALL '{path}'")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-1500:] if log.exists() else ""


def _start(home: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    python = BQEMU_VENV / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"{BQEMU_VENV} is missing; `make {BQEMU_VENV.name}/.installed-…` (make test) builds it")
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "BQEMU_UPLOAD_STAGING_DIR": str(home / "uploads")}
    installed = subprocess.run([str(python), "-c", _INSTALL_SPATIAL], env=env, cwd=home, capture_output=True, text=True)
    if installed.returncode:
        raise RuntimeError(f"installing DuckDB's spatial extension failed: {installed.stderr[-1500:]}")
    port = _free_port()
    log = home / "bqemulator.log"
    command = [
        str(BQEMU_VENV / "bin" / "bqemulator"),
        "start",
        "--ephemeral",
        "--rest-port",
        str(port),
        "--grpc-port",
        "0",
        "--log-level",
        "warning",
        "--no-admin",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"bqemulator exited with {process.returncode}: {_log_tail(log)}")
        try:
            if httpx.get(f"{url}/bigquery/v2/projects/probe/datasets", timeout=2).status_code == 200:
                return process, url, log
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"bqemulator did not answer within {START_TIMEOUT_S:.0f} s: {_log_tail(log)}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a bqemulator (in memory) for the whole session. Skips without
    ``.venv-bqemulator``; fails instead when B2BREC_REQUIRE_SERVICES=1 (CI, where `make test` builds it)."""
    home = tmp_path_factory.mktemp("bqemulator")
    try:
        process, url, log = _start(home)
    except (OSError, RuntimeError) as exc:
        _unavailable("the BigQuery emulator (bqemulator)", exc)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
