"""``b2brec app serve``: starts the app with its worker, prints a working admin login, stops on
Ctrl-C; an unknown client is a clear error."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from b2brec.projects.local import LocalClientProject
from b2brec.settings import Settings
from tests.trainer.conftest import free_port

pytestmark = pytest.mark.slow


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "B2BREC_HOME": str(settings.home), "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir)}


def test_app_serve_runs_the_app_and_prints_a_login_that_works(project: LocalClientProject, settings: Settings) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "cli.main",
        "app",
        "serve",
        "--client",
        "demo-dev",
        "--port",
        str(port),
        "--create-admin",
        "boss@example.com",
        "--no-beat",
    ]
    process = subprocess.Popen(
        command, env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while not any("client app at" in line for line in lines):
            assert time.monotonic() < deadline and process.poll() is None, "".join(lines)
            lines.append(process.stdout.readline())  # type: ignore[union-attr]
        password = re.search(r"admin login: boss@example.com / (\S+)", "".join(lines)).group(1)  # type: ignore[union-attr]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            page = client.get("/login").text
            token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            response = client.post(
                "/login", data={"email": "boss@example.com", "password": password, "csrf_token": token}
            )
            assert response.status_code == 302
            assert client.get("/dashboard/").status_code == 200
            assert client.get("/healthz").json() == {"status": "ok"}
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
        process.stdout.close()  # type: ignore[union-attr]
    assert process.returncode == 0


def test_an_unknown_client_is_a_clear_error(settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "app", "serve", "--client", "nobody"],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "nobody" in result.stderr and "error" in result.stderr
