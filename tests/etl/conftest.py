"""Fixtures: a local client project whose source is a fresh real PostgreSQL or MariaDB database."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from b2brec.projects.local import LocalClientProject, create_project
from b2brec.settings import Settings
from b2brec.spec import ClientSpec
from tests.etl.sourcedb import client_spec, create_erp


@dataclass(frozen=True)
class Client:
    spec: ClientSpec
    project: LocalClientProject
    url: str
    settings: Settings


def make_client(settings: Settings, url: str, client_id: str, *, sales: int = 1000) -> Client:
    create_erp(url, sales=sales)
    spec = client_spec(settings, url, client_id=client_id)
    return Client(spec=spec, project=create_project(spec, settings), url=url, settings=settings)


@pytest.fixture(params=["postgresql", "mariadb"])
def client(request: pytest.FixtureRequest, settings: Settings) -> Client:
    """A client project per database server, with 1,000 sales lines in its source."""
    url = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return make_client(settings, url, f"etl-{request.param}")
