"""``append_changes``: one simulated day of ERP activity on an already generated database.

New sales lines come after the current last sale with new, larger line ids; a sample of
existing lines gets corrected quantities. Every touched row's ``updated_at`` is later than
any ``updated_at`` already in the table, which is what an incremental (cursor) load relies on.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa

from b2brec.datagen.config import ChangeSummary, DatagenError, GeneratorConfig
from b2brec.datagen.generate import database_errors, to_datetime
from b2brec.datagen.sales import DAY, SalesChunk, amounts, quantities
from b2brec.datagen.schema import build_metadata, customer_ids, product_ids, sales_table
from b2brec.datagen.targets import FileTarget, parse_target
from b2brec.datagen.world import World, build_world
from b2brec.datagen.writers import SqlWriter

MAX_NEW = 1_000_000
_EPOCH = datetime(1970, 1, 1)


def _epoch(value: datetime) -> int:
    return int((value.replace(tzinfo=None) - _EPOCH).total_seconds())


def append_changes(
    url: str,
    cfg: GeneratorConfig,
    *,
    new_transactions: int = 500,
    updated_transactions: int = 200,
    seed: int = 7,
    now: datetime | None = None,
) -> ChangeSummary:
    """Insert ``new_transactions`` lines and update ``updated_transactions`` existing ones.

    ``cfg`` must be the config the database was generated with (its world decides who buys
    what); ``seed`` varies the day; ``now`` (naive UTC, default: the clock) stamps updated_at.
    """
    for name, value, high in (
        ("new_transactions", new_transactions, MAX_NEW),
        ("updated_transactions", updated_transactions, MAX_NEW),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            raise DatagenError(f"{name} must be a whole number between 0 and {high:,}, got {value!r}")
    if cfg.mode != "demo":
        raise DatagenError(
            f"append_changes simulates the demo ERP only (mode {cfg.mode!r} given); "
            "regenerate a realistic database with a later --end-date instead"
        )
    target = parse_target(url)
    if isinstance(target, FileTarget):
        raise DatagenError("append_changes needs a database URL; file:// exports cannot be updated in place")
    started = time.perf_counter()
    writer = SqlWriter(target, cfg.chunk_size)
    sales = build_metadata(target.dialect).tables["sales"]
    try:
        with database_errors(target):
            state = _current_state(writer.engine, sales, cfg)
            if updated_transactions > state["rows"]:
                raise DatagenError(
                    f"cannot update {updated_transactions:,} lines: the sales table has {state['rows']:,}"
                )
            rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 3, seed]))
            clock = _epoch(now if now is not None else datetime.now(UTC))
            stamp = max(clock, _epoch(state["max_updated_at"]) + 1)
            world = build_world(cfg)
            new = _new_lines(world, rng, new_transactions, state, stamp)
            if len(new):
                writer.write("sales", sales_table(new, customer_ids(cfg.n_customers), product_ids(cfg.n_products)))
            updated_ids = _update_lines(writer.engine, sales, rng, updated_transactions, state["max_id"], stamp)
    finally:
        writer.close()
    written = ([int(new.updated_at.max())] if len(new) else []) + ([stamp] if updated_ids else [])
    high = max(written) if written else _epoch(state["max_updated_at"])
    return ChangeSummary(
        new_ids=new.line_id.tolist(),
        updated_ids=updated_ids,
        max_updated_at=to_datetime(high),
        seconds=time.perf_counter() - started,
    )


def _current_state(engine: sa.Engine, sales: sa.Table, cfg: GeneratorConfig) -> dict:
    names = set(sa.inspect(engine).get_table_names())
    missing = [t for t in ("customers", "products", "sales") if t not in names]
    if missing:
        raise DatagenError(
            f"table(s) {', '.join(missing)} not found; run `b2brec data generate` on this database first"
        )
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.max(sales.c.line_id),
                sa.func.max(sales.c.sold_at),
                sa.func.max(sales.c.updated_at),
            )
        ).one()
        n_customers = conn.execute(sa.text("SELECT COUNT(*) FROM customers")).scalar_one()
        n_products = conn.execute(sa.text("SELECT COUNT(*) FROM products")).scalar_one()
    if (n_customers, n_products) != (cfg.n_customers, cfg.n_products):
        raise DatagenError(
            f"the database has {n_customers:,} customers and {n_products:,} products but the config describes "
            f"{cfg.n_customers:,} and {cfg.n_products:,}; pass the config it was generated with"
        )
    if not row[0]:
        raise DatagenError("the sales table is empty; run `b2brec data generate` first")
    return {"rows": int(row[0]), "max_id": int(row[1]), "max_sold_at": row[2], "max_updated_at": row[3]}


def _new_lines(world: World, rng: np.random.Generator, n: int, state: dict, stamp: int) -> SalesChunk:
    """Lines after the last sale, following the world's staples and tastes (see sales.simulate_days)."""
    cust, cat = world.customers, world.catalog
    last_sold = _epoch(state["max_sold_at"])
    day = (last_sold - world.start_epoch) // DAY + 1
    alive = cust.end_day >= world.config.days
    staples = np.flatnonzero(alive[world.staple_customer])
    n_staple = min(int(rng.binomial(n, 0.55)), len(staples))
    picked = staples[rng.integers(0, len(staples), size=n_staple)] if n_staple else np.empty(0, np.int64)
    weights = np.cumsum(cust.activity * alive)
    e_cust = np.minimum(
        np.searchsorted(weights, rng.random(n - n_staple) * weights[-1], side="right"), len(weights) - 1
    )
    e_prod = world.sample_products(rng, world.group[e_cust], world.season(int(day)))
    customer = np.concatenate([world.staple_customer[picked], e_cust]).astype(np.int64)
    product = np.concatenate([world.staple_product[picked], e_prod]).astype(np.int64)
    units = np.concatenate([world.staple_units[picked], cat.base_units[e_prod] * cust.size[e_cust]])
    shape = np.concatenate([np.full(n_staple, 10.0), np.full(n - n_staple, 3.0)])
    quantity = quantities(rng, units, shape, cat.case_size[product])
    amount = amounts(quantity, cat.price[product], cust.discount[customer])
    sold_at = np.sort(last_sold + rng.integers(60, DAY, size=n))
    updated_at = np.maximum(stamp, sold_at + rng.integers(30, 3600, size=n))
    line_id = np.arange(state["max_id"] + 1, state["max_id"] + 1 + n, dtype=np.int64)
    return SalesChunk(line_id, customer, product, quantity, amount, sold_at, updated_at)


def _update_lines(
    engine: sa.Engine, sales: sa.Table, rng: np.random.Generator, n: int, max_id: int, stamp: int
) -> list[int]:
    """Correct the quantity (and amount, at the line's own unit price) of ``n`` existing lines."""
    if n == 0:
        return []
    wanted = np.sort(rng.choice(max_id, size=n, replace=False) + 1)
    updated: list[int] = []
    stamp_dt = to_datetime(stamp)
    with engine.begin() as conn:
        for start in range(0, n, 1000):
            ids = [int(i) for i in wanted[start : start + 1000]]
            rows = conn.execute(
                sa.select(sales.c.line_id, sales.c.quantity, sales.c.amount)
                .where(sales.c.line_id.in_(ids))
                .order_by(sales.c.line_id)
            ).all()
            factor = rng.uniform(0.5, 1.5, size=len(rows))
            params = []
            for (line_id, qty, amount), f in zip(rows, factor, strict=True):
                new_qty = max(1, round(qty * f))
                new_qty = new_qty + 1 if new_qty == qty else new_qty
                params.append(
                    {
                        "b_id": line_id,
                        "b_qty": new_qty,
                        "b_amount": round(float(amount) / qty * new_qty, 2),
                        "b_updated": stamp_dt,
                    }
                )
            if params:
                conn.execute(
                    sales.update()
                    .where(sales.c.line_id == sa.bindparam("b_id"))
                    .values(
                        quantity=sa.bindparam("b_qty"),
                        amount=sa.bindparam("b_amount"),
                        updated_at=sa.bindparam("b_updated"),
                    ),
                    params,
                )
            updated.extend(p["b_id"] for p in params)
        if len(updated) < n:  # raised inside the transaction, so nothing is updated
            raise DatagenError(
                f"only {len(updated):,} of the {n:,} sampled line ids exist; the sales table has gaps in line_id"
            )
    return sorted(updated)
