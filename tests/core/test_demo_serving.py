"""The demo's serving step: a real `b2brec serve` subprocess on the project's port, and a rerun of
the demo replacing the server an earlier run left behind (else the old model would answer)."""

from __future__ import annotations

import socket

import httpx
import pytest

from b2brec.bundle import write_bundle
from b2brec.errors import B2BRecError
from b2brec.projects.local import create_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from cli.demo_serving import start_server
from serving.synthetic import synthetic_bundle


def test_rerun_replaces_the_server_left_running(settings: Settings) -> None:
    project = create_project(load_environment(settings.environments_dir, "demo-dev"), settings)
    write_bundle(project.storage("models"), synthetic_bundle("v1", n_products=300, n_customers=50))
    first, url = start_server(project)
    try:
        assert httpx.get(f"{url}/model-info").json()["data"]["model_version"] == "v1"
        write_bundle(project.storage("models"), synthetic_bundle("v2", n_products=300, n_customers=50, seed=1))
        second, url = start_server(project)
        try:
            assert first.wait(timeout=30) is not None
            assert httpx.get(f"{url}/model-info").json()["data"]["model_version"] == "v2"
        finally:
            second.terminate()
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.terminate()
            first.wait(timeout=30)


def test_a_foreign_process_on_the_port_is_reported_not_trusted(settings: Settings) -> None:
    project = create_project(load_environment(settings.environments_dir, "demo-dev"), settings)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", project.ports["serving"]))
        squatter.listen()
        with pytest.raises(B2BRecError, match=f"port {project.ports['serving']} is taken by another process"):
            start_server(project)
