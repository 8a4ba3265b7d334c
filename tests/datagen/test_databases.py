"""Generate into the machine's real PostgreSQL and MariaDB (fixtures from tests/conftest.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from b2brec.datagen import GeneratorConfig, generate
from b2brec.datagen.schema import TABLES, build_metadata

from .test_changes import check_append_semantics

pytestmark = pytest.mark.services
CFG = GeneratorConfig(transactions=4_000, seed=9, chunk_size=1_500)


def _normalised(url: str) -> dict[str, list[tuple]]:
    """Every row of the three tables, typed by SQLAlchemy, money rounded to the cent."""
    engine = sa.create_engine(url)
    md = build_metadata(engine.dialect.name)
    try:
        with engine.connect() as conn:
            return {
                name: [
                    tuple(round(float(v), 2) if isinstance(v, float | Decimal) else v for v in row)
                    for row in conn.execute(sa.select(md.tables[name]).order_by(*md.tables[name].primary_key))
                ]
                for name in TABLES
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("server", ["postgres", "mariadb"])
def test_generate_and_append_on_real_servers(server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = request.getfixturevalue("postgres_url" if server == "postgres" else "mysql_url")
    summary = generate(CFG, url)
    assert summary.transactions == 4_000
    reference = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    generate(CFG, reference)
    got, want = _normalised(url), _normalised(reference)
    # the same rows as the SQLite copy: unicode names, timestamps and money survive COPY / executemany
    for name in TABLES:
        assert len(got[name]) == len(want[name]) > 0
        assert got[name] == want[name], name
    assert any(not row[1].isascii() for row in got["products"])
    engine = sa.create_engine(url)
    try:
        assert [ix["column_names"] for ix in sa.inspect(engine).get_indexes("sales")] == [["updated_at"]]
    finally:
        engine.dispose()
    check_append_semantics(url, CFG)
