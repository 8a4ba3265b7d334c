"""Realistic mode: the generated invoice history has the statistics of a real wholesaler's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from b2brec.datagen import GeneratorConfig, generate
from b2brec.datagen.realistic import (
    NON_PRODUCTS,
    InvoiceChunk,
    RealisticWorld,
    build_realistic_world,
    iter_invoice_chunks,
)
from b2brec.datagen.stats import TARGETS, invoice_stats


def _lines(cfg: GeneratorConfig, chunk_size: int | None = None) -> tuple[RealisticWorld, dict[str, np.ndarray]]:
    rw = build_realistic_world(cfg)
    chunks: list[InvoiceChunk] = list(iter_invoice_chunks(rw, chunk_size))
    names = ("line_id", "invoice", "cancelled", "customer", "product", "quantity", "unit_price", "sold_at")
    return rw, {n: np.concatenate([getattr(c, n) for c in chunks]) for n in names}


@pytest.fixture(scope="module")
def realistic() -> tuple[RealisticWorld, dict[str, np.ndarray]]:
    """100k lines: ~0.5 s, enough customers (833) for stable statistics."""
    return _lines(GeneratorConfig(transactions=100_000, seed=42, mode="realistic"))


@pytest.mark.parametrize("seed", [42, 7])
def test_statistics_match_the_real_wholesaler(seed: int) -> None:
    rw, cols = _lines(GeneratorConfig(transactions=100_000, seed=seed, mode="realistic"))
    stats = invoice_stats(
        customer=cols["customer"],
        product=cols["product"],
        quantity=cols["quantity"],
        cancelled=cols["cancelled"],
        non_product=cols["product"] >= rw.n_products,
        sold_at=cols["sold_at"],
    )
    assert stats.off_target() == {}, stats
    assert set(TARGETS) <= set(stats.as_dict())
    assert 0.004 < stats.return_line_share < 0.015
    assert 0.005 < stats.non_product_line_share < 0.02
    assert stats.top_decile_product_share > 0.4  # long tail: uniform sales would give 0.10
    assert stats.bottom_half_product_share < 0.15  # uniform: 0.5


def test_cancellations_returns_and_fees_look_like_an_erp(
    realistic: tuple[RealisticWorld, dict[str, np.ndarray]],
) -> None:
    rw, c = realistic
    fee = c["product"] >= rw.n_products
    # cancellations: negative quantity, a customer, and a same-day earlier purchase of that product
    assert np.all(c["quantity"][c["cancelled"]] < 0)
    assert np.all(c["customer"][c["cancelled"]] >= 0)
    # returns: negative, not cancelled, a real product, bought earlier by the same customer
    ret = np.flatnonzero((c["quantity"] < 0) & ~c["cancelled"] & ~fee)
    assert len(ret) > 300
    bought = {
        (cu, p)
        for cu, p, q, x in zip(c["customer"], c["product"], c["quantity"], c["cancelled"], strict=True)
        if q > 0 and not x
    }
    assert all((c["customer"][i], c["product"][i]) in bought for i in ret)
    # every non-product code occurs; guests (no customer) get web postage
    codes = {rw.product_codes[p] for p in c["product"][fee]}
    assert codes == {code for code, _, _ in NON_PRODUCTS}
    assert np.all(c["quantity"][fee & (c["quantity"] < 0)] == -1)  # only the discount line "D"


def test_time_order_ids_and_determinism(realistic: tuple[RealisticWorld, dict[str, np.ndarray]]) -> None:
    rw, c = realistic
    assert np.array_equal(c["line_id"], np.arange(1, 100_001))
    assert np.all(np.diff(c["sold_at"]) >= 0), "line ids follow time"
    first_time = {}
    for inv, t in zip(c["invoice"], c["sold_at"], strict=True):
        first_time.setdefault(inv, t)
    numbers = np.array(sorted(first_time))
    assert np.all(np.diff([first_time[n] for n in numbers]) >= 0), "invoice numbers follow invoice time"
    _, again = _lines(GeneratorConfig(transactions=100_000, seed=42, mode="realistic"), chunk_size=777)
    for name, values in c.items():
        assert np.array_equal(values, again[name]), name
    assert len(set(rw.product_codes)) == len(rw.product_codes)


def test_written_tables_have_the_erp_shape(tmp_path: Path) -> None:
    db = tmp_path / "erp.sqlite"
    summary = generate(GeneratorConfig(transactions=5_000, seed=3, mode="realistic"), f"sqlite:///{db}")
    assert summary.transactions == 5_000
    with sqlite3.connect(db) as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(sales)")]
        assert cols == [
            "line_id",
            "invoice_no",
            "stock_code",
            "quantity",
            "unit_price",
            "customer_id",
            "invoiced_at",
            "updated_at",
        ]
        guests, lines = conn.execute("SELECT SUM(customer_id IS NULL), COUNT(*) FROM sales").fetchone()
        assert 0.2 < guests / lines < 0.3
        bad = conn.execute("SELECT COUNT(*) FROM sales WHERE invoice_no LIKE 'C%' AND quantity >= 0").fetchone()[0]
        assert bad == 0
        cancels = conn.execute("SELECT COUNT(*) FROM sales WHERE invoice_no LIKE 'C%'").fetchone()[0]
        assert cancels > 30
        orphans = conn.execute(
            "SELECT COUNT(*) FROM sales s LEFT JOIN products p USING (stock_code) WHERE p.stock_code IS NULL"
        ).fetchone()[0]
        assert orphans == 0
        unknown = conn.execute(
            "SELECT COUNT(*) FROM sales s WHERE customer_id IS NOT NULL "
            "AND customer_id NOT IN (SELECT customer_id FROM customers)"
        ).fetchone()[0]
        assert unknown == 0
        fees = conn.execute("SELECT COUNT(*) FROM products WHERE category = 'Non-product'").fetchone()[0]
        assert fees == len(NON_PRODUCTS)


def test_invoice_stats_by_hand() -> None:
    # customer 0 bought products 1, 2 before the last 30 days and 1, 3 after: pairs (0,1) repeat, (0,3) new -> 0.5.
    # customer 1 is new in the test period: not counted. Line 6 has no customer, line 7 is a cancellation.
    day = 86_400
    stats = invoice_stats(
        customer=np.array([0, 0, 0, 0, 1, -1, 0]),
        product=np.array([1, 2, 1, 3, 1, 2, 2]),
        quantity=np.array([1, 1, 1, 1, 1, 1, -1]),
        cancelled=np.array([False] * 6 + [True]),
        non_product=np.zeros(7, bool),
        sold_at=np.array([0, day, 60 * day, 60 * day, 60 * day, 60 * day, 2 * day]),
    )
    assert stats.repeat_share_next_month == 0.5
    assert stats.median_products_per_customer == 2.0  # customer 0: {1,2,3} = 3, customer 1: {1} = 1
    assert stats.guest_line_share == pytest.approx(1 / 7)
    assert stats.cancel_line_share == pytest.approx(1 / 7)


def test_append_changes_refuses_realistic(tmp_path: Path) -> None:
    from b2brec.datagen import DatagenError, append_changes

    with pytest.raises(DatagenError, match="demo ERP only"):
        append_changes(f"sqlite:///{tmp_path / 'x.sqlite'}", GeneratorConfig(transactions=5_000, mode="realistic"))


def test_unknown_mode_is_refused() -> None:
    from b2brec.datagen import DatagenError

    with pytest.raises(DatagenError, match="mode must be one of demo, realistic"):
        GeneratorConfig(mode="tidy")  # type: ignore[arg-type]
