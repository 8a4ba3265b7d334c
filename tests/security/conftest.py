"""Fixtures: a local client project whose database source can be pointed anywhere."""

from __future__ import annotations

from typing import Any

import pytest

from b2brec.projects.local import LocalClientProject, create_project
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, load_environment, parse_spec

CLIENT_ID = "sec-client"


def spec_data(settings: Settings, *, client_id: str = CLIENT_ID, name: str = "Sec Client") -> dict[str, Any]:
    data = load_environment(settings.environments_dir, "demo-dev").model_dump(mode="json")
    data["client_id"] = client_id
    data["name"] = name
    return data


def db_spec(
    settings: Settings, host: str, port: int, *, kind: str = "postgresql", database: str = "test", user: str = "root"
) -> ClientSpec:
    """The security client with one database source at ``host:port`` (validated like any spec file)."""
    data = spec_data(settings)
    data["sources"] = {"erp": {"kind": kind, "host": host, "port": port, "database": database, "username": user}}
    return parse_spec(data, origin="test")


def allow(settings: Settings, client_id: str, *entries: str) -> Settings:
    """``settings`` as the operator would set them: ``entries`` allowed for that one client."""
    return settings.model_copy(update={"source_hosts_allowed": {client_id: list(entries)}})


@pytest.fixture
def project(settings: Settings) -> LocalClientProject:
    """The security client's project (its source is a SQLite file in its upload area by default)."""
    data = spec_data(settings)
    return create_project(parse_spec(data, origin="test"), settings)
