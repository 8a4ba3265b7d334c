"""Fixtures of the pipeline tests: a local client project whose warehouse holds tiny synthetic data."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator

import pytest

from b2brec.projects.local import LocalClientProject, create_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from trainer.synthetic import WholesaleConfig, generate, load_into_warehouse

TINY = WholesaleConfig(customers=60, products=60, days=40, orders_per_customer=8, seed=3)


@pytest.fixture
def project(settings: Settings) -> LocalClientProject:
    spec = load_environment(settings.environments_dir, "demo-dev")
    created = create_project(spec, settings)
    load_into_warehouse(created.warehouse(), generate(TINY))
    return created


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_project(project: LocalClientProject) -> Iterator[LocalClientProject]:
    """The project with its MLflow server running on a free port (the machine is shared)."""
    from trainer import mlflow_server

    running = dataclasses.replace(project, ports={**project.ports, "mlflow": free_port()})
    mlflow_server.start(running)
    try:
        yield running
    finally:
        mlflow_server.stop(running)
