"""Fixtures of the client app tests: a local client project with tiny data, the app on a real
PostgreSQL database, and one signed-in test client per role."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from b2brec.projects.local import LocalClientProject, create_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from client_app import create_app
from client_app.config import AppConfig
from tests.trainer.conftest import free_port
from trainer.synthetic import WholesaleConfig, generate, load_into_warehouse

TINY = WholesaleConfig(customers=60, products=60, days=40, orders_per_customer=8, seed=3)
PASSWORD = "correct-horse-battery"
ROLES = ("admin", "member", "viewer")


def with_free_ports(project: LocalClientProject) -> LocalClientProject:
    """Give the project's services free ports (other test runs share this machine)."""
    ports = {name: free_port() for name in project.ports}
    project_file = project.root / "project.json"
    project_file.write_text(json.dumps({**json.loads(project_file.read_text()), "ports": ports}))
    return dataclasses.replace(project, ports=ports)


@pytest.fixture
def project(settings: Settings) -> Iterator[LocalClientProject]:
    spec = load_environment(settings.environments_dir, "demo-dev")
    created = with_free_ports(create_project(spec, settings, environment="demo-dev"))
    load_into_warehouse(created.warehouse(), generate(TINY))
    yield created
    from trainer import mlflow_server

    mlflow_server.stop(created)


@pytest.fixture
def app_config(project: LocalClientProject, postgres_url: str) -> AppConfig:
    return AppConfig(client=project.project_id, database_url=postgres_url, secure_cookies=False)


def dispose(app: Flask) -> None:
    """Close the app's database connections (before its test database is dropped)."""
    from client_app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(app_config: AppConfig, settings: Settings) -> Iterator[Flask]:
    app = create_app(app_config, settings)
    with app.app_context():
        from client_app.auth.services import create_user

        for role in ROLES:
            create_user(f"{role}@example.com", role.title(), role, PASSWORD)
    yield app
    dispose(app)


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> str:
    token = csrf_token(client)
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return csrf_token(client, "/dashboard/")


@pytest.fixture
def signed_in(app: Flask) -> Callable[[str], tuple[FlaskClient, str]]:
    """``signed_in(role)`` → a test client signed in with that role, and its CSRF token."""

    def make(role: str) -> tuple[FlaskClient, str]:
        client = app.test_client()
        return client, sign_in(client, f"{role}@example.com")

    return make


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
