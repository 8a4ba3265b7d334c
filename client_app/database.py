"""Where the app database is: an explicit URL, Cloud SQL (what the client stack wires), or SQLite.

On GCP the stack sets ``B2BREC_SQL_CONNECTION`` / ``B2BREC_SQL_USER`` / ``B2BREC_SQL_DATABASE`` and
grants the app's service account an IAM database user, so the app connects through the Cloud SQL
connector with IAM authentication over the private IP: no password exists anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from client_app.client import ClientRuntime
from client_app.config import AppConfig
from client_app.errors import AppError

CLOUD_SQL_URL = "postgresql+pg8000://"


def cloud_sql_connect_args(config: AppConfig) -> dict[str, Any]:
    """What the connector is asked for (tested without Google Cloud)."""
    if not config.sql_connection or not config.sql_user:
        raise AppError(
            "Cloud SQL needs B2BREC_SQL_CONNECTION and B2BREC_SQL_USER (the client stack sets both)",
            code="invalid_settings",
            fix="set them, or set B2BREC_APP_DATABASE_URL",
        )
    return {
        "instance_connection_string": config.sql_connection,
        "driver": "pg8000",
        "user": config.sql_user,
        "db": config.sql_database,
        "enable_iam_auth": True,
        "ip_type": "private",
    }


@cache
def _connector() -> Any:
    from google.cloud.sql.connector import Connector

    return Connector(refresh_strategy="lazy")


def _creator(args: dict[str, Any]) -> Callable[[], Any]:
    def connect() -> Any:
        return _connector().connect(**args)

    return connect


def database(config: AppConfig, client: ClientRuntime) -> tuple[str, dict[str, Any]]:
    """``(SQLAlchemy URL, engine options)`` of the app database."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    if config.database_url:
        return config.database_url, options
    if config.sql_connection:
        return CLOUD_SQL_URL, {**options, "creator": _creator(cloud_sql_connect_args(config))}
    if client.project is None:
        raise AppError(
            "no app database: set B2BREC_APP_DATABASE_URL, or the stack's B2BREC_SQL_* variables",
            code="invalid_settings",
        )
    return f"sqlite:///{client.project.db_dir / 'client_app.sqlite'}", options
