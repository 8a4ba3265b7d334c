"""Sales lines, simulated day by day and handed out in bounded chunks.

Memory is O(customers + staples + one day's lines + one chunk), never O(transactions).
The random stream depends only on the config, not on ``chunk_size``, so chunking never
changes the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from b2brec.datagen import catalog_data as cd
from b2brec.datagen.world import World

MAX_STAPLE_SHARE_PER_DAY = 0.7  # the rest of a day's lines are exploratory purchases
MAX_LATE_DAYS = 7  # a staple re-order more than a week late is skipped, not piled up
ATTACH_SHARE = 0.5  # exploratory lines added to an order a customer places anyway today
DAY = 86_400


@dataclass(frozen=True)
class SalesChunk:
    """Columns of consecutive sales lines; customer/product are 0-based indexes into the world."""

    line_id: np.ndarray
    customer: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    amount: np.ndarray
    sold_at: np.ndarray  # epoch seconds (UTC, naive in the database)
    updated_at: np.ndarray

    def __len__(self) -> int:
        return len(self.line_id)


def day_counts(world: World, rng: np.random.Generator) -> np.ndarray:
    """Split the transactions over days: weekday profile, December peak, August holidays, growth."""
    cfg = world.config
    days = np.arange(cfg.days)
    weekday = (cfg.start_date.weekday() + days) % 7
    doy = np.array([world.day_of_year(d) for d in range(cfg.days)])
    weight = np.array(cd.WEEKDAY_PROFILE)[weekday]
    weight = weight * (1 + 0.12 * np.cos(2 * np.pi * (doy - 350) / 365.25))
    weight = weight * (1 - 0.15 * np.exp(-(((doy - 222) / 12.0) ** 2)))
    weight = weight * (1 + 0.1 * days / cfg.days)
    return rng.multinomial(cfg.transactions, weight / weight.sum())


def simulate_days(world: World, seed_offset: int = 2) -> Iterator[dict[str, np.ndarray]]:
    """Yield one dict of columns per day (no line ids yet), in time order."""
    cfg, cust, cat = world.config, world.customers, world.catalog
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, seed_offset]))
    counts = day_counts(world, rng)
    groups = world.group
    next_due = (
        np.clip(cust.created_day[world.staple_customer], 0, None)
        + rng.random(len(world.staple_customer)) * world.staple_interval
    )
    staple_end = cust.end_day[world.staple_customer]
    end_epoch = world.start_epoch + cfg.days * DAY
    for d in range(cfg.days):
        total = int(counts[d])
        if total == 0:
            continue
        # --- staples due today (re-orders) ---------------------------------------------------
        due = np.flatnonzero(next_due <= d)
        gone = due[staple_end[due] <= d]
        next_due[gone] = np.inf
        due = due[staple_end[due] > d]
        late = due[d - next_due[due] > MAX_LATE_DAYS]
        next_due[late] += np.ceil((d - next_due[late]) / world.staple_interval[late]) * world.staple_interval[late]
        due = due[next_due[due] <= d]
        cap = int(total * MAX_STAPLE_SHARE_PER_DAY)
        if len(due) > cap:
            due = np.sort(rng.choice(due, size=cap, replace=False))
        next_due[due] = d + world.staple_interval[due] * rng.lognormal(0.0, 0.12, size=len(due))
        s_cust, s_prod = world.staple_customer[due], world.staple_product[due]
        # --- exploratory lines -------------------------------------------------------------
        n_explore = total - len(due)
        n_attach = int(rng.binomial(n_explore, ATTACH_SHARE)) if len(due) else 0
        attach = s_cust[rng.integers(0, max(len(due), 1), size=n_attach)]
        active = (cust.created_day <= d) & (cust.end_day > d)
        weights = np.cumsum(cust.activity * active)
        fresh = np.searchsorted(weights, rng.random(n_explore - n_attach) * weights[-1], side="right")
        e_cust = np.concatenate([attach, np.minimum(fresh, len(weights) - 1)])
        e_prod = world.sample_products(rng, groups[e_cust], world.season(d))
        customer = np.concatenate([s_cust, e_cust])
        product = np.concatenate([s_prod, e_prod])
        units = np.concatenate([world.staple_units[due], cat.base_units[e_prod] * cust.size[e_cust]])
        shape = np.concatenate([np.full(len(due), 10.0), np.full(n_explore, 3.0)])
        quantity = quantities(rng, units, shape, cat.case_size[product])
        amount = amounts(quantity, cat.price[product], cust.discount[customer])
        # one order time per customer and day: lines of the same order share sold_at
        jitter = rng.integers(-90 * 60, 90 * 60, size=len(cust.names))
        sold_at = world.start_epoch + d * DAY + np.clip(cust.hour[customer] + jitter[customer], 0, DAY - 1)
        updated_at = sold_at + rng.integers(30, 4 * 3600, size=total)
        corrected = updated_at + rng.integers(DAY, 10 * DAY, size=total)
        fix = (rng.random(total) < 0.03) & (corrected < end_epoch)
        updated_at = np.where(fix, corrected, updated_at)
        order = np.lexsort((product, customer, sold_at))
        yield {
            "customer": customer[order],
            "product": product[order],
            "quantity": quantity[order],
            "amount": amount[order],
            "sold_at": sold_at[order],
            "updated_at": updated_at[order],
        }


def quantities(rng: np.random.Generator, units: np.ndarray, shape: np.ndarray, case: np.ndarray) -> np.ndarray:
    """Bulk quantities in whole cases: gamma noise around the typical order, at least one case."""
    cases = np.maximum(1, np.round(units / case * rng.gamma(shape, 1.0 / shape)))
    return (cases * case).astype(np.int64)


def amounts(quantity: np.ndarray, price: np.ndarray, discount: np.ndarray) -> np.ndarray:
    """Revenue: list price minus the customer's discount and a volume discount on big lines."""
    gross = quantity * price
    volume = np.select([gross >= 2000, gross >= 500], [0.06, 0.03], 0.0)
    return np.round(gross * (1.0 - discount - volume), 2)


def iter_sales_chunks(world: World, chunk_size: int | None = None, first_line_id: int = 1) -> Iterator[SalesChunk]:
    """Re-cut the daily blocks into chunks of at most ``chunk_size`` lines with sequential line ids."""
    size = chunk_size or world.config.chunk_size
    pending: list[dict[str, np.ndarray]] = []
    pending_rows = 0
    next_id = first_line_id
    for block in simulate_days(world):
        pending.append(block)
        pending_rows += len(block["customer"])
        while pending_rows >= size:
            merged = _concat(pending)
            head = {k: v[:size] for k, v in merged.items()}
            tail = {k: v[size:] for k, v in merged.items()}
            yield _chunk(head, next_id)
            next_id += size
            pending, pending_rows = ([tail], len(tail["customer"])) if len(tail["customer"]) else ([], 0)
    if pending_rows:
        yield _chunk(_concat(pending), next_id)


def _concat(blocks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(blocks) == 1:
        return blocks[0]
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


def _chunk(cols: dict[str, np.ndarray], first_id: int) -> SalesChunk:
    n = len(cols["customer"])
    return SalesChunk(np.arange(first_id, first_id + n, dtype=np.int64), **cols)
