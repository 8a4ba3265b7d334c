"""append_changes: a simulated day of ERP activity, on real SQLite."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from b2brec.datagen import DatagenError, GeneratorConfig, append_changes, generate

CFG = GeneratorConfig(transactions=2_000, seed=11)


def _sales(url: str) -> dict[int, tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT line_id, customer_id, sku, quantity, amount, sold_at, updated_at FROM sales"
            ).all()
    finally:
        engine.dispose()
    return {r[0]: tuple(r[1:]) for r in rows}


def check_append_semantics(url: str, cfg: GeneratorConfig) -> None:
    """Shared by the SQLite, PostgreSQL and MariaDB tests."""
    before = _sales(url)
    max_sold = max(r[4] for r in before.values())
    max_updated = max(r[5] for r in before.values())
    result = append_changes(url, cfg, new_transactions=50, updated_transactions=20, seed=3)
    after = _sales(url)
    assert len(after) == len(before) + 50
    assert result.new_ids == list(range(len(before) + 1, len(before) + 51))
    assert len(result.updated_ids) == 20 and set(result.updated_ids) <= set(before)
    for line_id in result.new_ids:
        _cust, _sku, qty, amount, sold_at, updated_at = after[line_id]
        assert qty >= 1 and float(amount) > 0
        assert _as_dt(sold_at) > _as_dt(max_sold) and _as_dt(updated_at) > _as_dt(max_updated)
    for line_id in result.updated_ids:
        old, new = before[line_id], after[line_id]
        assert new[:2] == old[:2] and new[4] == old[4]  # same customer, product, sale time
        assert new[2] != old[2]  # quantity corrected
        assert abs(float(new[3]) / new[2] - float(old[3]) / old[2]) < 0.02  # at the line's own unit price
        assert _as_dt(new[5]) > _as_dt(max_updated)
    untouched = set(before) - set(result.updated_ids)
    assert all(after[i] == before[i] for i in untouched)
    assert result.max_updated_at == max(_as_dt(r[5]) for r in after.values())


def _as_dt(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def test_append_changes_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.sqlite'}"
    generate(CFG, url)
    check_append_semantics(url, CFG)
    # a second day keeps going: ids and updated_at move on again
    second = append_changes(url, CFG, new_transactions=10, updated_transactions=0, seed=4)
    assert second.new_ids == list(range(2_051, 2_061)) and second.updated_ids == []


def test_append_changes_uses_the_given_clock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.sqlite'}"
    generate(CFG, url)
    late = datetime(2030, 1, 1, 12, 0, 0)
    result = append_changes(url, CFG, new_transactions=0, updated_transactions=5, now=late)
    assert result.max_updated_at == late and result.new_ids == []


def test_append_changes_is_checked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.sqlite'}"
    with pytest.raises(DatagenError, match="not found; run `b2brec data generate`"):
        append_changes(url, CFG)
    generate(CFG, url)
    with pytest.raises(DatagenError, match="pass the config it was generated with"):
        append_changes(url, GeneratorConfig(transactions=50_000, seed=11))
    with pytest.raises(DatagenError, match="cannot update 5,000 lines"):
        append_changes(url, CFG, updated_transactions=5_000)
    with pytest.raises(DatagenError, match="new_transactions must be a whole number"):
        append_changes(url, CFG, new_transactions=-1)
    with pytest.raises(DatagenError, match="needs a database URL"):
        append_changes(f"file://{tmp_path}", CFG)
