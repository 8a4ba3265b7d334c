"""Run the client app with its Celery worker and beat as one group of local processes.

``b2brec app serve`` and the demo use it: the web server (werkzeug's threaded server locally,
gunicorn in the image), ``celery worker`` and ``celery beat``, all with the same environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from b2brec.errors import B2BRecError


@dataclass
class AppProcesses:
    web: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    beat: subprocess.Popen[bytes] | None
    url: str
    logs: Path
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def all(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in (self.web, self.worker, self.beat) if p is not None]

    def stop(self, timeout: float = 20.0) -> None:
        for process in self.all():
            if process.poll() is None:
                process.terminate()
        for process in self.all():
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()


def worker_command(*, concurrency: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "client_app.worker:celery_app",
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
    ]


def start(
    env: dict[str, str], *, host: str, port: int, logs: Path, beat: bool = True, timeout: float = 120.0
) -> AppProcesses:
    """Start web + worker (+ beat) with ``env`` added to this process's environment; wait for /login."""
    logs.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env}

    def spawn(name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with open(logs / f"client_app-{name}.log", "ab") as log:  # the child keeps its own copy of the handle
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=full_env, start_new_session=True)

    web = spawn("web", [sys.executable, "-m", "client_app.wsgi", "--host", host, "--port", str(port)])
    worker = spawn("worker", worker_command())
    beat_process = None
    if beat:
        schedule = logs / "celerybeat-schedule"
        beat_process = spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "client_app.worker:celery_app",
                "beat",
                "--loglevel=INFO",
                "-s",
                str(schedule),
            ],
        )
    processes = AppProcesses(web, worker, beat_process, f"http://{host}:{port}", logs)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes.all():
            if process.poll() is not None:
                processes.stop()
                name = {id(web): "web", id(worker): "worker"}.get(id(process), "beat")
                tail = (logs / f"client_app-{name}.log").read_text(errors="replace").splitlines()[-15:]
                raise B2BRecError(
                    f"the client app's {name} process exited with code {process.returncode}; "
                    f"last lines of {logs / f'client_app-{name}.log'}:\n" + "\n".join(tail),
                    code="app_start_failed",
                )
        try:
            if httpx.get(f"{processes.url}/login", timeout=2).status_code == 200:
                return processes
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    processes.stop()
    raise B2BRecError(f"the client app did not answer within {timeout:.0f}s; see {logs}", code="app_start_failed")
