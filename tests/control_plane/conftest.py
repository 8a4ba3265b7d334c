"""Control plane fixtures: an app on a real database (PostgreSQL where the test asks for it),
operators of each role, signed-in test clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from b2brec.settings import Settings
from control_plane.alerts.sink import FileSink
from control_plane.app import create_app
from control_plane.auth.services import create_operator
from control_plane.settings import ControlPlaneSettings
from provisioning.local import LocalProvisioner
from provisioning.templates import registry_for

PASSWORD = "correct-horse-battery"
OPERATORS = {"admin": "admin@b2brec.test", "operator": "op@b2brec.test", "viewer": "viewer@b2brec.test"}


def cp_settings(tmp_path: Path, **overrides: Any) -> ControlPlaneSettings:
    values: dict[str, Any] = {
        "celery_eager": True,
        "secure_cookies": False,
        "soak_seconds": 0.3,
        "local_dev": True,
    }
    values.update(overrides)
    return ControlPlaneSettings(**values)


def allowing_loopback(settings: Settings, *client_ids: str) -> Settings:
    """Platform settings whose operator allow-list lets these clients' sources be on 127.0.0.1
    (the machine's PostgreSQL); every other client gets the default: public addresses only."""
    return settings.model_copy(update={"source_hosts_allowed": {c: ["127.0.0.1/32"] for c in client_ids}})


def build_app(settings: Settings, tmp_path: Path, *, database_url: str | None = None, **kwargs: Any) -> Flask:
    # the real LocalProvisioner without starting MLflow and serving for every test client
    # (tests/core and the provisioning tests cover the services; these tests cover the app)
    kwargs.setdefault("provisioner", LocalProvisioner(settings, registry=registry_for(settings), services=[]))
    app = create_app(
        cp_settings(tmp_path, database_url=database_url, **kwargs.pop("overrides", {})),
        settings,
        alert_sink=FileSink(tmp_path / "mail.mbox", "cp@b2brec.test", "ops@b2brec.test"),
        **kwargs,
    )
    app.config["TESTING"] = True
    with app.app_context():
        for role, email in OPERATORS.items():
            create_operator(email, PASSWORD, role, actor="test-setup")
    return app


@pytest.fixture
def app(settings: Settings, tmp_path: Path) -> Iterator[Flask]:
    """The app on SQLite (the embedded default)."""
    app = build_app(settings, tmp_path)
    yield app
    with app.app_context():
        from control_plane.extensions import db

        db.engine.dispose()


@pytest.fixture
def pg_app(settings: Settings, tmp_path: Path, postgres_url: str) -> Iterator[Flask]:
    """The app on a fresh real PostgreSQL database (what it runs on in GCP: Cloud SQL)."""
    platform = allowing_loopback(settings, "acme-foods", "bad-password-co")
    app = build_app(platform, tmp_path, database_url=postgres_url)
    yield app
    with app.app_context():
        from control_plane.extensions import db

        db.session.remove()
        db.engine.dispose()


def csrf_token(client: FlaskClient) -> str:
    response = client.get("/api/csrf")
    return str(response.get_json()["data"]["csrf_token"])


LoginAs = Callable[[str], FlaskClient]


def make_login(app: Flask) -> LoginAs:
    def login(role: str) -> FlaskClient:
        client = app.test_client()
        response = client.post("/api/login", json={"email": OPERATORS[role], "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        client.environ_base["HTTP_X_CSRFTOKEN"] = response.get_json()["data"]["csrf_token"]
        return client

    return login


@pytest.fixture
def login(app: Flask) -> LoginAs:
    return make_login(app)
