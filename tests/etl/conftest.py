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


LOCAL_SERVERS = ["127.0.0.1/32", "::1/128"]
"""The machine's own PostgreSQL/MariaDB: a loopback address, refused for clients unless the operator
allow-list names it. Tests act as the operator for the clients they create (nothing else is allowed)."""


def allow_local_servers(settings: Settings, client_id: str) -> Settings:
    """``settings`` with this one client allowed to reach the test servers on this machine."""
    allowed = {**settings.source_hosts_allowed, client_id: LOCAL_SERVERS}
    return settings.model_copy(update={"source_hosts_allowed": allowed})


def make_client(settings: Settings, url: str, client_id: str, *, sales: int = 1000) -> Client:
    create_erp(url, sales=sales)
    settings = allow_local_servers(settings, client_id)
    spec = client_spec(settings, url, client_id=client_id)
    return Client(spec=spec, project=create_project(spec, settings), url=url, settings=settings)


@pytest.fixture(params=["postgresql", "mariadb"])
def client(request: pytest.FixtureRequest, settings: Settings) -> Client:
    """A client project per database server, with 1,000 sales lines in its source."""
    url = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return make_client(settings, url, f"etl-{request.param}")
