"""What images/serving.Dockerfile runs (no Docker engine here): its ENTRYPOINT + CMD, from the venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "images" / "serving.Dockerfile"


def _instruction(name: str) -> list[str]:
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith(f"{name} "):
            return json.loads(line.removeprefix(f"{name} "))
    raise AssertionError(f"{DOCKERFILE.name} has no {name}")


def test_image_command_runs_the_serve_cli() -> None:
    command = _instruction("ENTRYPOINT") + _instruction("CMD")
    assert command[:4] == ["python", "-m", "cli.main", "serve"]
    env = {**os.environ, "B2BREC_BACKEND": "gcp"}
    result = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and "--client" in result.stdout and "--version" in result.stdout
