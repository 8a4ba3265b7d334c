"""The demo's web steps: start the client app (with its Celery worker and beat) for the demo client and
the control plane (with the demo client registered), detached, and print their URLs and demo logins.

The CLI and the apps are sibling layers that never import each other, so each app is started as its own
command (``python -m client_app serve``, ``python -m control_plane.manage control-plane serve``); the
login each prints on start-up is read back from its log.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from b2brec.errors import B2BRecError
from b2brec.processes import keep, stop_group
from b2brec.projects.local import LocalClientProject

CONTROL_PLANE_PORT = 8100
DEMO_ADMIN = "admin@demo-wholesale.example"


@dataclass(frozen=True)
class StartedApp:
    name: str
    url: str
    login: str
    pid: int
    log: Path


def _stop_previous(pid_file: Path) -> None:
    """Stop what an earlier demo left running under this pid file, so the port is free again."""
    if pid_file.exists():
        pid = int(pid_file.read_text().strip() or 0)
        pid_file.unlink()
        if pid > 0:
            stop_group(pid, timeout=20)


def _start(
    name: str, command: list[str], *, url: str, logs: Path, login_pattern: str, timeout: float = 120.0
) -> StartedApp:
    logs.mkdir(parents=True, exist_ok=True)
    pid_file = logs / f"{name}.pid"
    log_path = logs / f"{name}.log"
    _stop_previous(pid_file)
    with open(log_path, "wb") as log:
        process = keep(
            subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True
            )
        )
    pid_file.write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise B2BRecError(
                f"the {name} exited with code {process.returncode} at start-up; see {log_path}", code="service_failed"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                found = re.search(login_pattern, log_path.read_text(errors="replace"))
                login = " password ".join(found.groups()) if found else f"(see {log_path})"
                return StartedApp(name=name, url=url, login=login, pid=process.pid, log=log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_group(process.pid)
    raise B2BRecError(f"the {name} did not answer within {timeout:.0f}s; see {log_path}", code="service_failed")


def start_client_app(project: LocalClientProject) -> StartedApp:
    """The demo client's app on its project port, with a fresh password for the demo admin."""
    command = [sys.executable, "-m", "client_app", "serve", "--client", project.project_id]
    command += ["--create-admin", DEMO_ADMIN]
    return _start(
        "client-app",
        command,
        url=project.urls()["client_app"],
        logs=project.logs_dir,
        login_pattern=r"admin login: (\S+) / (\S+)",
    )


def start_control_plane(home: Path, *, port: int = CONTROL_PLANE_PORT) -> StartedApp:
    """The control plane with the demo client registered and a fresh demo operator password."""
    command = [sys.executable, "-m", "control_plane.manage", "control-plane", "serve", "--demo", "--port", str(port)]
    return _start(
        "control-plane",
        command,
        url=f"http://127.0.0.1:{port}",
        logs=home / "logs",
        login_pattern=r"demo operator: (\S+ password \S+)",
    )
