"""``b2brec serve`` as a user runs it: a real process on 127.0.0.1 serving a local client project."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from b2brec.bundle import write_bundle
from b2brec.projects.local import create_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from serving.synthetic import synthetic_bundle
from tests.serving.conftest import free_port

B2BREC = [sys.executable, "-m", "cli.main"]


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "B2BREC_HOME": str(settings.home), "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir)}


def test_serve_without_a_model_says_what_to_do(settings: Settings) -> None:
    project = create_project(load_environment(settings.environments_dir, "demo-dev"), settings)
    result = subprocess.run(
        [*B2BREC, "serve", "--client", project.project_id],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "no trained model yet" in result.stderr
    for version in ("../x", ".."):
        bad = subprocess.run(
            [*B2BREC, "serve", "--client", project.project_id, "--version", version],
            env=_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert bad.returncode == 2 and "is not a version id" in bad.stderr, bad.stderr


def test_serve_a_client_project(settings: Settings, tmp_path: Path) -> None:
    project = create_project(load_environment(settings.environments_dir, "demo-dev"), settings)
    write_bundle(project.storage("models"), synthetic_bundle("20260101-000000", n_products=200, n_customers=30))
    port = free_port()
    proc = subprocess.Popen(
        [*B2BREC, "serve", "--client", project.project_id, "--port", str(port)],
        env=_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "b2brec serve did not become ready"
            time.sleep(0.3)
        data = httpx.post(f"{url}/recommend", json={"customer_id": "c2", "k": 3}).json()["data"]
        assert data["model_version"] == "20260101-000000" and len(data["items"]) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    # uvicorn shuts down gracefully (lifespan flushes the prediction log), then re-raises SIGTERM.
    assert proc.returncode in (0, -signal.SIGTERM), stderr[-2000:]
    assert '"message": "model deployed"' in stderr  # JSON log lines
    logged = project.warehouse().query("SELECT customer_id FROM predictions.recommendation_history").to_pylist()
    assert logged == [{"customer_id": "c2"}]
