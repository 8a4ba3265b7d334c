"""Shared fixtures: isolated settings per test, and real database servers.

Database fixtures connect to the machine's PostgreSQL and MariaDB. Where a server is
missing they skip, unless B2BREC_REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from b2brec.errors import STRICT_ENV
from b2brec.settings import Settings

# An error raised with an unregistered code fails at once in the tests (and in the processes they start).
os.environ[STRICT_ENV] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get("B2BREC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_URL = os.environ.get("B2BREC_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def services_required() -> bool:
    return os.environ.get("B2BREC_REQUIRE_SERVICES", "0").lower() in {"1", "true", "yes"}


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    if services_required():
        pytest.fail(f"{message}; B2BREC_REQUIRE_SERVICES=1 requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private B2BREC_HOME and the repository's environments."""
    return Settings(home=tmp_path / "home", environments_dir=REPO_ROOT / "environments")


def _fresh_database(admin_url: str, what: str, create: str, drop: str) -> Iterator[str]:
    name = f"b2brec_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(create.format(name=name)))
    except Exception as exc:  # any driver error means the service is not usable
        _unavailable(what, exc)
    url = sa.make_url(admin_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(drop.format(name=name)))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped afterwards."""
    yield from _fresh_database(
        POSTGRES_ADMIN_URL, "PostgreSQL", 'CREATE DATABASE "{name}"', 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    )


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty MariaDB/MySQL database, dropped afterwards."""
    yield from _fresh_database(
        MYSQL_ADMIN_URL, "MariaDB", "CREATE DATABASE `{name}`", "DROP DATABASE IF EXISTS `{name}`"
    )


@pytest.fixture
def hostile_hosts() -> list[str]:
    """The shared corpus of hostile database hosts (``tests/security/corpus.py``): every entry point
    that takes a host (CLI, spec loading, ETL test and load, client app, control plane) refuses each."""
    from tests.security.corpus import HOSTILE_HOSTS

    return list(HOSTILE_HOSTS)


def _corpus_ids() -> list[str]:
    from tests.security.corpus import HOSTILE_HOSTS

    return [f"{i:02d}-{ascii(h)[1:-1][:40]}" for i, h in enumerate(HOSTILE_HOSTS)]


@pytest.fixture(params=range(len(_corpus_ids())), ids=_corpus_ids())
def hostile_host(request: pytest.FixtureRequest) -> str:
    """One value of the corpus per test (for entry points whose test is one call per value)."""
    from tests.security.corpus import HOSTILE_HOSTS

    return HOSTILE_HOSTS[request.param]
