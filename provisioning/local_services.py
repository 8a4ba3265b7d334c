"""The services a local client project runs, each a real process on the project's own port:
MLflow (tracking + registry) and serving. The client app registers itself the same way later
(``LocalProvisioner(services=...)``): a service only needs start, stop and a health check."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from b2brec.errors import B2BRecError
from b2brec.processes import alive, keep, stop_group
from b2brec.projects.local import LocalClientProject
from provisioning import errors as _errors  # noqa: F401  (registers the codes used here)
from provisioning.base import ServiceState


class LocalService(Protocol):
    name: str

    def start(self, project: LocalClientProject, env: dict[str, str]) -> None: ...

    def stop(self, project: LocalClientProject) -> bool: ...

    def health(self, project: LocalClientProject) -> ServiceState: ...


def _answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int = 5) -> str:
    if not path.exists():
        return ""
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])[-600:]


def wait_healthy(service: LocalService, project: LocalClientProject, timeout: float) -> ServiceState:
    """Poll the service's health until it answers, its process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        state = service.health(project)
        if state.healthy or not state.running or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


class ProcessService:
    """A service run as one detached process group, its pid in ``run/{name}.pid``, output in
    ``logs/{name}.log``, healthy when ``{url}{health_path}`` answers 200."""

    name = "service"
    health_path = "/health"

    def command(self, project: LocalClientProject) -> list[str]:
        raise NotImplementedError

    def url(self, project: LocalClientProject) -> str:
        return f"http://127.0.0.1:{project.ports[self.name]}"

    def _pid_file(self, project: LocalClientProject) -> Path:
        return project.root / "run" / f"{self.name}.pid"

    def _log(self, project: LocalClientProject) -> Path:
        return project.logs_dir / f"{self.name}.log"

    def pid(self, project: LocalClientProject) -> int | None:
        pid_file = self._pid_file(project)
        if not pid_file.exists():
            return None
        pid = int(pid_file.read_text().strip())
        return pid if alive(pid) else None

    def start(self, project: LocalClientProject, env: dict[str, str]) -> None:
        if self.pid(project) is not None:
            raise B2BRecError(
                f"{self.name} of {project.project_id} is already running; stop it first", code="service_failed"
            )
        if _answers(self.url(project) + self.health_path):
            raise B2BRecError(
                f"port {project.ports[self.name]} already answers (another program); free it, or give "
                f"{project.project_id} another {self.name} port",
                code="port_in_use",
            )
        self._pid_file(project).parent.mkdir(parents=True, exist_ok=True)
        project.logs_dir.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, **env, "B2BREC_HOME": str(project.home), "B2BREC_BACKEND": "local"}
        with open(self._log(project), "ab") as log:
            process = keep(  # reaped by alive() once it ends; no ResourceWarning when this object goes
                subprocess.Popen(
                    self.command(project), stdout=log, stderr=subprocess.STDOUT, env=full_env, start_new_session=True
                )
            )
        self._pid_file(project).write_text(str(process.pid))
        keep(process)  # alive() reaps it when it ends

    def stop(self, project: LocalClientProject) -> bool:
        pid_file = self._pid_file(project)
        if not pid_file.exists():
            return False
        pid = int(pid_file.read_text().strip())
        pid_file.unlink()
        return stop_group(pid)

    def health(self, project: LocalClientProject) -> ServiceState:
        url = self.url(project)
        running = self.pid(project) is not None
        healthy = running and _answers(url + self.health_path)
        detail = "" if healthy else ("starting" if running else f"not running; log: {_tail(self._log(project))}")
        return ServiceState(name=self.name, url=url, running=running, healthy=healthy, detail=detail)


class ServingService(ProcessService):
    name = "serving"
    health_path = "/health/live"

    def command(self, project: LocalClientProject) -> list[str]:
        port = str(project.ports[self.name])
        return [sys.executable, "-m", "serving", "--client", project.project_id, "--port", port]


class MlflowService(ProcessService):
    """The project's MLflow server (``trainer.mlflow_server`` builds its command line)."""

    name = "mlflow"
    health_path = "/health"

    def command(self, project: LocalClientProject) -> list[str]:
        from trainer import mlflow_server

        return mlflow_server.command(project)

    def _pid_file(self, project: LocalClientProject) -> Path:
        return project.db_dir / "mlflow.pid"  # the file trainer.mlflow_server uses: one server either way

    def start(self, project: LocalClientProject, env: dict[str, str]) -> None:
        # MLflow 3's background job runner (~7 worker processes) is not used here.
        super().start(project, {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env})


def default_services() -> list[LocalService]:
    return [MlflowService(), ServingService()]
