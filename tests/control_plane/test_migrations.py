"""The Alembic history creates exactly the tables the models describe (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from control_plane.migrations import upgrade
from control_plane.models import metadata


def _no_drift(url: str) -> None:
    upgrade(url)
    upgrade(url)  # idempotent
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_schema_matches_models(tmp_path) -> None:
    _no_drift(f"sqlite:///{tmp_path / 'cp.sqlite'}")


@pytest.mark.services
def test_postgres_schema_matches_models(postgres_url: str) -> None:
    _no_drift(postgres_url)
