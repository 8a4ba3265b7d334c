"""A real local MLflow tracking server per client project.

SQLite backend store in the project's ``db/mlflow.db``, artifacts in the client's ``mlflow`` bucket
folder (proxied by the server), port ``project.ports["mlflow"]``, bound to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from b2brec.processes import alive, keep, stop_group
from b2brec.projects.local import LocalClientProject
from trainer.errors import PipelineError


def tracking_uri(project: LocalClientProject) -> str:
    return f"http://127.0.0.1:{project.ports['mlflow']}"


def _pid_file(project: LocalClientProject) -> os.PathLike[str]:
    return project.db_dir / "mlflow.pid"


def is_running(project: LocalClientProject) -> bool:
    try:
        with urllib.request.urlopen(f"{tracking_uri(project)}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def command(project: LocalClientProject) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(project.ports["mlflow"]),
        "--backend-store-uri",
        f"sqlite:///{project.db_dir / 'mlflow.db'}",
        "--artifacts-destination",
        project.storage("mlflow").url(),
        "--workers",
        "1",
    ]


def _owned_pid(project: LocalClientProject) -> int | None:
    """The pid of this project's server if it is alive (ports repeat across B2BREC_HOMEs, so an answer
    on the port alone does not prove the server is this project's)."""
    pid_file = _pid_file(project)
    if not os.path.exists(pid_file):
        return None
    with open(pid_file) as handle:  # closed at once: tests turn ResourceWarning into an error
        pid = int(handle.read().strip())
    return pid if alive(pid) else None


_STARTED: dict[int, subprocess.Popen[bytes]] = {}
"""Servers started by this process, by pid: a dropped ``Popen`` of a running child warns at garbage
collection, and the one that started a server reaps it when it stops it."""


def start(project: LocalClientProject, *, timeout: float = 90.0, env: dict[str, str] | None = None) -> str:
    """Start the server unless this project's own server already answers; returns the tracking URI."""
    if is_running(project):
        if _owned_pid(project) is not None:
            return tracking_uri(project)
        raise PipelineError(
            f"port {project.ports['mlflow']} already serves another MLflow (not {project.project_id}'s); stop it, "
            f"or give this project another port in {project.root / 'project.json'}"
        )
    project.db_dir.mkdir(parents=True, exist_ok=True)
    project.logs_dir.mkdir(parents=True, exist_ok=True)
    with open(project.logs_dir / "mlflow.log", "ab") as log:
        # MLflow 3's background job runner (GenAI jobs, ~7 worker processes) is not used here; on a
        # 2-core machine it only competes with training.
        full_env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
        process = keep(
            subprocess.Popen(
                command(project), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=full_env
            )
        )
    with open(_pid_file(project), "w") as handle:
        handle.write(str(process.pid))
    _STARTED[process.pid] = process
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PipelineError(
                f"MLflow server exited with code {process.returncode}; see {project.logs_dir / 'mlflow.log'}"
            )
        if is_running(project):
            return tracking_uri(project)
        time.sleep(0.5)
    stop(project)
    raise PipelineError(f"MLflow server did not answer within {timeout:.0f}s; see {project.logs_dir / 'mlflow.log'}")


def stop(project: LocalClientProject, *, timeout: float = 15.0) -> bool:
    """Stop the server started by :func:`start` (by its recorded process group). True if one was stopped."""
    pid_file = project.db_dir / "mlflow.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip())
    pid_file.unlink()
    stopped = stop_group(pid, timeout=timeout)
    child = _STARTED.pop(pid, None)
    if child is not None:
        child.wait(timeout=timeout)  # reap it here (it is our child): no zombie, no ResourceWarning
    return stopped
