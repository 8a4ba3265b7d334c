"""The control plane image's entrypoint, run from the project's virtualenv (no Docker engine
here): gunicorn serves the app on $PORT, and refuses to start without a real secret key."""

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

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "images" / "control-plane.Dockerfile"
pytestmark = pytest.mark.slow


def _entrypoint() -> list[str]:
    line = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("ENTRYPOINT "))
    command = json.loads(line[len("ENTRYPOINT ") :])
    command[0] = str(Path(sys.executable).with_name(command[0]))
    return command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "B2BREC_HOME": str(tmp_path),
        "B2BREC_BACKEND": "local",
        "B2BREC_CP_LOCAL_DEV": "0",
        "PYTHONPATH": str(REPO),
        **extra,
    }


def test_image_serves_the_app_on_port(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path, PORT=str(port), B2BREC_CP_SECRET_KEY="k" * 48)
    process = subprocess.Popen(_entrypoint(), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()[-2000:] if process.stdout else ""
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.5)
        assert body == {"status": "success", "message": "alive", "data": {"alive": True}}
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def test_image_refuses_a_missing_secret_key(tmp_path: Path) -> None:
    env = _env(tmp_path, PORT=str(_free_port()))
    env.pop("B2BREC_CP_SECRET_KEY", None)
    result = subprocess.run(_entrypoint(), env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "B2BREC_CP_SECRET_KEY is unset or a placeholder" in result.stdout + result.stderr
