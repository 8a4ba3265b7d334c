"""What each image runs, run here: no Docker engine exists on our machines, so the tests read
every Dockerfile's ENTRYPOINT/CMD and execute that command from the project's virtualenv."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

IMAGES = REPO_ROOT / "images"
DOCKERFILES = sorted(IMAGES.glob("*.Dockerfile"))


def _instruction(dockerfile: Path, name: str) -> list[str]:
    """The exec-form (JSON) argument list of the last ENTRYPOINT or CMD instruction."""
    found: list[str] = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith(f"{name} "):
            found = json.loads(line[len(name) + 1 :])
    return found


def _command(dockerfile: Path) -> list[str]:
    command = _instruction(dockerfile, "ENTRYPOINT") + _instruction(dockerfile, "CMD")
    if command and command[0] == "python":
        command[0] = sys.executable
    if command and command[0] == "/usr/local/bin/mlflow-entrypoint.sh":
        command[0] = str(IMAGES / "mlflow-entrypoint.sh")
    return command


def _env(**extra: str) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.stem)
def test_every_copied_path_exists_and_entrypoint_is_exec_form(dockerfile: Path) -> None:
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            sources = line.split()[1:-1]
            for source in sources:
                assert (REPO_ROOT / source).exists(), f"{dockerfile.name}: COPY source {source} does not exist"
    assert _instruction(dockerfile, "ENTRYPOINT"), f"{dockerfile.name} needs an exec-form ENTRYPOINT"


def test_etl_image_runs_its_entrypoint(tmp_path: Path) -> None:
    command = _command(IMAGES / "etl.Dockerfile")
    help_run = subprocess.run([*command, "--help"], env=_env(), capture_output=True, text=True, timeout=120)
    assert help_run.returncode == 0 and "usage: python -m b2brec.etl" in help_run.stdout
    no_spec = subprocess.run(command, env=_env(B2BREC_HOME=str(tmp_path)), capture_output=True, text=True, timeout=120)
    assert no_spec.returncode == 2 and "set $B2BREC_CLIENT_SPEC" in no_spec.stderr
    missing = subprocess.run(
        [*command, "no-such-client"],
        env=_env(B2BREC_HOME=str(tmp_path), B2BREC_BACKEND="local"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2
    assert "no local client project 'no-such-client'" in missing.stdout + missing.stderr


def test_trainer_image_runs_a_stage_module() -> None:
    command = _command(IMAGES / "trainer.Dockerfile")
    result = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: python -m trainer.train" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_mlflow_image_entrypoint_serves_health(tmp_path: Path) -> None:
    command = _command(IMAGES / "mlflow.Dockerfile")
    refused = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "set MLFLOW_BACKEND_STORE_URI" in refused.stderr

    port = _free_port()
    env = _env(
        MLFLOW_BACKEND_STORE_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        MLFLOW_ARTIFACTS_DESTINATION=(tmp_path / "artifacts").as_uri(),
        MLFLOW_HOST="127.0.0.1",
        MLFLOW_WORKERS="1",
        PORT=str(port),
    )
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:] if server.stderr else ""
                assert time.monotonic() < deadline, "MLflow did not answer /health within 120 s"
                time.sleep(1)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        if server.stderr is not None:
            server.stderr.close()
