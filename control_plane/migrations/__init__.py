"""Alembic migrations of the control plane database (``upgrade`` runs them)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (idempotent)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per start-up is noise
    command.upgrade(alembic_config(url), revision)
