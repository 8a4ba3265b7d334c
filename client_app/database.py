"""Where the app database is: the configured URL (on GCP the stack's Cloud SQL URL, reached through
the Auth Proxy sidecar with IAM authentication), else SQLite in the local client project."""

from __future__ import annotations

from typing import Any

from client_app.client import ClientRuntime
from client_app.config import AppConfig
from client_app.errors import AppError


def database(config: AppConfig, client: ClientRuntime) -> tuple[str, dict[str, Any]]:
    """``(SQLAlchemy URL, engine options)`` of the app database."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    if config.database_url:
        return config.database_url, options
    url = client.backends.app_database_url("client_app")
    if url is None:
        raise AppError("no app database: set B2BREC_DATABASE_URL (the client stack sets it)", code="invalid_settings")
    return url, options
