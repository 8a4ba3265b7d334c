"""Image fixtures: each image's environment (built once, cached), the synthesized stacks, a GCS emulator,
and a helper that starts a Dockerfile's command with a stack's environment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.images.harness import ImageEnv, build_env, dockerfiles
from tests.synthesized import Synthesized, synthesized_stacks

NO_METADATA_SERVER = {"NO_GCE_CHECK": "True", "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9"}
"""There is no GCE metadata server here: google-auth is told so instead of waiting for one (Cloud Run has one)."""


@pytest.fixture(scope="session")
def stacks() -> dict[str, Synthesized]:
    return synthesized_stacks()[1]


@pytest.fixture(scope="session")
def image_envs() -> dict[str, ImageEnv]:
    return {name: build_env(dockerfile) for name, dockerfile in dockerfiles().items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a gcp-storage-emulator (in memory) for the whole session."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/storage/v1/b?project=test", timeout=2)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "the GCS emulator did not start"
            time.sleep(0.1)
    yield url
    server.stop()


class Started:
    """An entrypoint running in its image's environment; stopped (process group) on exit."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_http(self, url: str, *, timeout: float = 120, **kwargs: Any) -> httpx.Response:
        """GET ``url`` until it answers (any status); fails with the process's output if it exits."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return httpx.get(url, timeout=5, **kwargs)
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    raise AssertionError(f"exited {self.process.returncode}:\n{self.output()[-4000:]}") from None
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer from {url} in {timeout:.0f}s:\n{self.output()[-4000:]}") from None
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._out.close()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    """``start(image_env, env, command=None)`` -> Started; every process is stopped after the test."""
    started: list[Started] = []

    def _start(image: ImageEnv, env: dict[str, str], command: tuple[str, ...] | None = None) -> Started:
        home = tmp_path / f"home-{len(started)}"
        home.mkdir()
        proc = Started(
            image.command(command), image.environ(env, home), image.app, tmp_path / f"out-{len(started)}.log"
        )
        started.append(proc)
        return proc

    yield _start
    for proc in started:
        proc.stop()


def run(
    image: ImageEnv, env: dict[str, str], home: Path, command: tuple[str, ...] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the image's command to its end (at most 5 minutes) and return what it printed."""
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        image.command(command), env=image.environ(env, home), cwd=image.app, capture_output=True, text=True, timeout=300
    )
