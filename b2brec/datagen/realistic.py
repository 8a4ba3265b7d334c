"""Realistic mode: invoice lines that look like a real wholesaler's ERP export.

The demo mode is tidy (every line has a customer, revenue is given, no cancellations). Real
invoice histories are not, and a recommender that only ever saw tidy data looks far better than
it is. This mode is calibrated to statistics measured on a real wholesaler's invoice history:

- 43 % of next-month (customer, product) pairs were bought by that customer before;
- a median of 33 distinct products per customer; a long tail of rarely sold products;
- a quarter of the lines carry no customer (cash/web sales);
- 1.7 % of the lines are cancellations (invoice number prefixed ``C``, negative quantity);
- returns (negative quantity on an ordinary invoice, against an earlier purchase);
- non-product lines: postage, carriage, bank and marketplace fees, manual lines, discounts.

Lines carry a unit price and no revenue (the mapping derives revenue = quantity x unit price);
customer ids are integers (a nullable integer column, which tools like pandas turn into
``12347.0``). ``stats.py`` measures all of these on generated (or any) lines.

Customers buy from a personal repertoire (products they keep re-ordering; it drifts: items
enter and leave it) and explore the rest of the catalogue through their segment's and city's
tastes, so repeat purchases, collaborative structure and novelty are all present.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from b2brec.datagen.config import GeneratorConfig
from b2brec.datagen.sales import day_counts, quantities
from b2brec.datagen.world import World, build_world, sampling_keys

DAY = 86_400
GUEST_SHARE = 0.25  # lines without a customer
CANCEL_SHARE = 0.017  # cancellation lines (prefix C, negative quantity)
RETURN_SHARE = 0.008  # returns: negative quantity on an ordinary invoice
FEE_SHARE = 0.012  # postage, fees, manual lines
REPEAT_PROB = 0.8
BASKET_LINES = 14.0  # mean lines per customer invoice
GUEST_BASKET_LINES = 22.0
POPULARITY_EXPONENT = 0.7  # applied to the demo catalogue's Zipf weights
RETURN_MEMORY_DAYS = 45  # returns refer to purchases of the last weeks
FIRST_INVOICE = 500_001
FIRST_CUSTOMER_ID = 12_346

# code, description, subcategory; prices are drawn in ``_fee_lines``
NON_PRODUCTS: tuple[tuple[str, str, str], ...] = (
    ("POST", "POSTAGE", "Postage"),
    ("DOT", "DOTCOM POSTAGE", "Postage"),
    ("C2", "CARRIAGE", "Postage"),
    ("M", "Manual", "Adjustments"),
    ("D", "Discount", "Adjustments"),
    ("ADJUST", "Adjustment", "Adjustments"),
    ("BANK CHARGES", "Bank Charges", "Fees"),
    ("AMAZONFEE", "AMAZON FEE", "Fees"),
)
NON_PRODUCT_CATEGORY = "Non-product"

# country -> (share of customers, cities shown for it); Germany uses the demo's cities
COUNTRIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "Germany": (0.84, ()),
    "Austria": (0.04, ("Wien", "Graz", "Salzburg")),
    "Netherlands": (0.03, ("Amsterdam", "Rotterdam", "Utrecht")),
    "France": (0.03, ("Paris", "Lyon", "Strasbourg")),
    "Switzerland": (0.025, ("Zürich", "Basel", "Bern")),
    "Belgium": (0.015, ("Brussel", "Antwerpen")),
    "Denmark": (0.01, ("København", "Aarhus")),
    "Poland": (0.01, ("Warszawa", "Poznań")),
}


@dataclass(frozen=True)
class RealisticWorld:
    """The demo world's catalogue, customers and tastes, plus what realistic mode adds."""

    base: World
    country: list[str]  # per customer
    city: list[str]  # per customer, as shown in the customers table
    foreign: np.ndarray  # bool per customer
    rep_customer: np.ndarray  # repertoire entries, grouped by customer
    rep_product: np.ndarray
    rep_key: np.ndarray  # customer + cumulative weight within the customer's repertoire
    rep_start: np.ndarray  # window day the item enters the repertoire
    rep_end: np.ndarray  # window day it leaves
    product_codes: list[str]  # catalogue products, then NON_PRODUCTS

    @property
    def n_products(self) -> int:
        return len(self.base.catalog.names)


@dataclass(frozen=True)
class InvoiceChunk:
    """Consecutive invoice lines; ``customer`` is -1 for a line without a customer."""

    line_id: np.ndarray
    invoice: np.ndarray  # invoice number (without the C prefix)
    cancelled: np.ndarray  # bool: the line is on a cancellation invoice
    customer: np.ndarray
    product: np.ndarray  # index into RealisticWorld.product_codes
    quantity: np.ndarray
    unit_price: np.ndarray
    sold_at: np.ndarray
    updated_at: np.ndarray

    def __len__(self) -> int:
        return len(self.line_id)


def product_codes(n: int, rng: np.random.Generator) -> list[str]:
    """Stock codes like ``20713`` or ``85123A``: unique five-digit numbers, some with a variant letter."""
    numbers = 10_000 + np.sort(rng.choice(80_000, size=n, replace=False))
    rng.shuffle(numbers)
    letters = np.where(rng.random(n) < 0.15, rng.integers(0, 7, size=n), -1)
    return [f"{num}{'ABCDEFG'[let] if let >= 0 else ''}" for num, let in zip(numbers, letters, strict=True)]


def build_realistic_world(cfg: GeneratorConfig) -> RealisticWorld:
    """The demo world (flatter popularity) plus countries, stock codes and repertoires; seed-determined."""
    world = _flatter(build_world(cfg))
    config, cust = world.config, world.customers
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 11]))
    n = config.n_customers
    names = list(COUNTRIES)
    share = np.array([COUNTRIES[c][0] for c in names])
    country_idx = rng.choice(len(names), size=n, p=share / share.sum())
    country, city = [], []
    for i in range(n):
        name = names[country_idx[i]]
        cities = COUNTRIES[name][1]
        country.append(name)
        city.append(cust.cities[cust.city[i]] if not cities else cities[rng.integers(0, len(cities))])
    foreign = country_idx != names.index("Germany")
    owner, product, key, start, end = _repertoires(world, rng)
    codes = product_codes(config.n_products, rng) + [code for code, _, _ in NON_PRODUCTS]
    return RealisticWorld(world, country, city, foreign, owner, product, key, start, end, codes)


def _flatter(world: World) -> World:
    """The same catalogue with a longer tail: a real catalogue's best sellers dominate less."""
    popularity = world.catalog.popularity**POPULARITY_EXPONENT
    catalog = replace(world.catalog, popularity=popularity / popularity.sum())
    order, order_key = sampling_keys(catalog)
    return replace(world, catalog=catalog, order=order, order_key=order_key)


def _repertoires(
    world: World, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each customer's drifting set of re-ordered products, with Zipf weights within it."""
    cfg, cust = world.config, world.customers
    active = np.maximum(np.clip(cust.end_day, 0, cfg.days) - np.clip(cust.created_day, 0, cfg.days), 1)
    volume = customer_weight(world) * active
    lines = (1 - GUEST_SHARE) * cfg.transactions * volume / volume.sum()
    size = np.clip(np.round(1.3 * lines**0.62), 3, min(400, cfg.n_products // 3)).astype(np.int64)
    owner = np.repeat(np.arange(cfg.n_customers), size)
    product = world.sample_products(rng, world.group[owner], None)
    # a product drawn twice for one customer stays twice (a heavier weight), which is what real baskets show
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(size) - size, size)
    weight = 1.0 / (rank + 1.0) ** 0.7 * rng.lognormal(0.0, 0.5, size=len(owner))
    first_entry = np.cumsum(size) - size
    cumulative = np.cumsum(weight)
    within = cumulative - np.repeat(cumulative[first_entry] - weight[first_entry], size)
    totals = np.repeat(np.add.reduceat(weight, first_entry), size)
    key = owner + np.minimum(within / totals, 0.9999999)
    first = np.minimum(cust.created_day, 0)[owner] - 120
    start = first + rng.random(len(owner)) * (np.clip(cust.end_day, 1, cfg.days)[owner] - first)
    end = start + 30 + rng.exponential(400.0, size=len(owner))
    return owner, product, key, start, end


def customer_weight(world: World) -> np.ndarray:
    """Ordering volume per customer: more skewed than the demo's (a few accounts buy a lot)."""
    return world.customers.activity**1.3


def iter_invoice_chunks(rw: RealisticWorld, chunk_size: int | None = None) -> Iterator[InvoiceChunk]:
    """Lines of the whole window in time order, re-cut into chunks of ``chunk_size`` lines."""
    size = chunk_size or rw.base.config.chunk_size
    pending: list[dict[str, np.ndarray]] = []
    rows, next_id = 0, 1
    for block in simulate_invoice_days(rw):
        pending.append(block)
        rows += len(block["customer"])
        while rows >= size:
            merged = {k: np.concatenate([b[k] for b in pending]) for k in pending[0]}
            yield InvoiceChunk(
                np.arange(next_id, next_id + size, dtype=np.int64), **{k: v[:size] for k, v in merged.items()}
            )
            next_id += size
            tail = {k: v[size:] for k, v in merged.items()}
            rows = len(tail["customer"])
            pending = [tail] if rows else []
    if rows:
        merged = {k: np.concatenate([b[k] for b in pending]) for k in pending[0]}
        yield InvoiceChunk(np.arange(next_id, next_id + rows, dtype=np.int64), **merged)


def simulate_invoice_days(rw: RealisticWorld) -> Iterator[dict[str, np.ndarray]]:
    """One dict of line columns per day (no line ids yet), in time order."""
    world = rw.base
    cfg, cust, cat = world.config, world.customers, world.catalog
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 12]))
    counts = day_counts(world, rng)
    weight = customer_weight(world)
    basket_scale = rng.lognormal(0.0, 0.5, size=cfg.n_customers)
    next_invoice = FIRST_INVOICE
    recent: deque[dict[str, np.ndarray]] = deque(maxlen=RETURN_MEMORY_DAYS)
    for d in range(cfg.days):
        total = int(counts[d])
        if total == 0:
            continue
        n_cancel, n_return, n_fee = (int(rng.binomial(total, p)) for p in (CANCEL_SHARE, RETURN_SHARE, FEE_SHARE))
        history = sum(len(r["customer"]) for r in recent)
        n_return = min(n_return, history)
        rest = total - n_cancel - n_return - n_fee
        n_guest = int(rng.binomial(rest, GUEST_SHARE / (1 - CANCEL_SHARE - RETURN_SHARE - FEE_SHARE)))
        n_ident = rest - n_guest
        if n_ident < max(n_cancel, 1):  # nothing to cancel: the day's lines become ordinary sales
            n_ident, n_cancel = n_ident + n_cancel, 0
        day_start = world.start_epoch + d * DAY
        season = world.season(d)
        active = (cust.created_day <= d) & (cust.end_day > d)
        # --- customer invoices ---------------------------------------------------------------
        w = np.cumsum(weight * active)
        n_inv = max(1, round(n_ident / BASKET_LINES))
        inv_cust = np.minimum(np.searchsorted(w, rng.random(n_inv) * w[-1], side="right"), cfg.n_customers - 1)
        inv_w = np.cumsum(basket_scale[inv_cust] * rng.lognormal(0.0, 0.6, size=n_inv))
        line_inv = np.searchsorted(inv_w, rng.random(n_ident) * inv_w[-1], side="right")
        line_inv = np.minimum(line_inv, n_inv - 1)
        c = inv_cust[line_inv]
        product = _customer_products(rw, rng, c, d, season)
        qty = quantities(
            rng, cat.base_units[product] * cust.size[c] * 0.5, np.full(n_ident, 2.0), cat.case_size[product]
        )
        ident = {"inv": line_inv, "customer": c, "product": product, "quantity": qty}
        # --- guest invoices (no customer) ----------------------------------------------------
        g_inv = max(1, round(n_guest / GUEST_BASKET_LINES)) if n_guest else 0
        g_line_inv = np.sort(rng.integers(0, max(g_inv, 1), size=n_guest)) + n_inv
        g_groups = rng.integers(0, world.taste.shape[0], size=max(g_inv, 1))
        g_product = world.sample_products(rng, g_groups[g_line_inv - n_inv], season) if n_guest else g_line_inv
        g_qty = np.maximum(1, np.round(rng.lognormal(1.0, 0.9, size=n_guest))).astype(np.int64)
        guest = {"inv": g_line_inv, "customer": np.full(n_guest, -1), "product": g_product, "quantity": g_qty}
        n_sales_inv = n_inv + g_inv
        inv_time = day_start + rng.integers(7 * 3600, 19 * 3600, size=n_sales_inv)
        inv_customer = np.concatenate([inv_cust, np.full(g_inv, -1)])
        # --- fees on today's invoices, cancellations and returns ---------------------------
        fee = _fee_lines(rw, rng, n_fee, inv_customer)
        cancel, cancelled_inv = _cancellations(rng, ident, n_cancel, n_sales_inv)
        ret, n_ret_inv = _returns(rng, recent, n_return, n_sales_inv + len(cancelled_inv))
        if n_ident:
            recent.append({k: ident[k] for k in ("customer", "product", "quantity")})
        delay = rng.integers(300, 6 * 3600, size=len(cancelled_inv))
        cancel_time = np.minimum(inv_time[cancelled_inv] + delay, day_start + DAY - 1)
        ret_time = day_start + rng.integers(8 * 3600, 18 * 3600, size=n_ret_inv)
        inv_time = np.concatenate([inv_time, cancel_time, ret_time]).astype(np.int64)
        parts = [ident, guest, fee, cancel, ret]
        cols = {k: np.concatenate([p[k] for p in parts]) for k in ("inv", "customer", "product", "quantity")}
        is_cancel = np.concatenate(
            [np.zeros(n_ident + n_guest + n_fee, bool), np.ones(n_cancel, bool), np.zeros(n_return, bool)]
        )
        sold_at = inv_time[cols["inv"]]
        # invoice numbers follow invoice time
        inv_order = np.argsort(inv_time, kind="stable")
        number = np.empty(len(inv_time), np.int64)
        number[inv_order] = next_invoice + np.arange(len(inv_time))
        next_invoice += len(inv_time)
        list_price = np.concatenate([cat.price, np.zeros(len(NON_PRODUCTS))])[cols["product"]]
        unit_price = _unit_prices(list_price, np.abs(cols["quantity"]))
        unit_price[cols["product"] >= rw.n_products] = fee["price"]  # fee lines, in the order concatenated
        order = np.lexsort((cols["product"], number[cols["inv"]], sold_at))
        yield {
            "invoice": number[cols["inv"]][order],
            "cancelled": is_cancel[order],
            "customer": cols["customer"][order].astype(np.int64),
            "product": cols["product"][order].astype(np.int64),
            "quantity": cols["quantity"][order].astype(np.int64),
            "unit_price": unit_price[order],
            "sold_at": sold_at[order],
            "updated_at": sold_at[order] + rng.integers(30, 2 * 3600, size=total),
        }


def _customer_products(
    rw: RealisticWorld, rng: np.random.Generator, c: np.ndarray, d: int, season: np.ndarray
) -> np.ndarray:
    """Repertoire items (when current) or exploration by the customer's group tastes."""
    pos = np.searchsorted(rw.rep_key, c + rng.random(len(c)) * 0.9999999, side="right")
    pos = np.minimum(pos, len(rw.rep_key) - 1)
    current = (rw.rep_customer[pos] == c) & (rw.rep_start[pos] <= d) & (rw.rep_end[pos] > d)
    repeat = current & (rng.random(len(c)) < REPEAT_PROB)
    explore = rw.base.sample_products(rng, rw.base.group[c], season)
    return np.where(repeat, rw.rep_product[pos], explore)


def _unit_prices(list_price: np.ndarray, quantity: np.ndarray) -> np.ndarray:
    """Price breaks: 8 % off from 12 units, 15 % off from 48 (wholesale price lists)."""
    factor = np.select([quantity >= 48, quantity >= 12], [0.85, 0.92], 1.0)
    return np.round(list_price * factor, 2)


def _fee_lines(rw: RealisticWorld, rng: np.random.Generator, n: int, inv_customer: np.ndarray) -> dict[str, np.ndarray]:
    """Postage on foreign and web invoices, and the odd manual line, discount or fee."""
    codes = [code for code, _, _ in NON_PRODUCTS]
    inv = rng.integers(0, len(inv_customer), size=n)
    cust = inv_customer[inv]
    guest = cust < 0
    foreign = np.where(guest, False, rw.foreign[np.maximum(cust, 0)])
    other = rng.choice(
        [codes.index(c) for c in ("M", "C2", "D", "ADJUST", "BANK CHARGES", "AMAZONFEE", "POST")],
        p=[0.3, 0.15, 0.15, 0.1, 0.1, 0.05, 0.15],
        size=n,
    )
    code = np.where(
        guest & (rng.random(n) < 0.75),
        codes.index("DOT"),
        np.where(foreign & (rng.random(n) < 0.8), codes.index("POST"), other),
    )
    price = np.select(
        [
            code == codes.index("POST"),
            code == codes.index("DOT"),
            code == codes.index("C2"),
            code == codes.index("BANK CHARGES"),
            code == codes.index("AMAZONFEE"),
        ],
        [
            np.full(n, 18.0),
            np.round(rng.lognormal(2.5, 0.6, size=n), 2),
            np.full(n, 50.0),
            np.full(n, 15.0),
            np.round(rng.lognormal(7.0, 1.0, size=n), 2),
        ],
        np.round(rng.lognormal(1.5, 1.4, size=n), 2),
    )
    quantity = np.where(code == codes.index("D"), -1, 1)
    return {"inv": inv, "customer": cust, "product": rw.n_products + code, "quantity": quantity, "price": price}


def _cancellations(
    rng: np.random.Generator, ident: dict[str, np.ndarray], n: int, first_inv: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Cancel some of today's lines, whole or in part, on cancellation invoices of their own.

    Lines of one original invoice are cancelled together on one cancellation invoice; the
    second value lists the original invoice of each cancellation invoice.
    """
    source = rng.choice(len(ident["customer"]), size=n, replace=False) if n else np.empty(0, np.int64)
    originals, inv = np.unique(ident["inv"][source], return_inverse=True)
    qty = ident["quantity"][source]
    part = np.where(rng.random(n) < 0.7, qty, np.maximum(1, np.round(qty * rng.random(n)))).astype(np.int64)
    lines = {
        "inv": first_inv + inv,
        "customer": ident["customer"][source],
        "product": ident["product"][source],
        "quantity": -part,
    }
    return lines, originals


def _returns(
    rng: np.random.Generator, recent: deque[dict[str, np.ndarray]], n: int, first_inv: int
) -> tuple[dict[str, np.ndarray], int]:
    """Goods sent back: part of an earlier purchase, credited on an ordinary invoice (one per customer)."""
    if n == 0:
        empty = np.empty(0, np.int64)
        return {"inv": empty, "customer": empty, "product": empty, "quantity": empty}, 0
    pool = {k: np.concatenate([r[k] for r in recent]) for k in ("customer", "product", "quantity")}
    pick = rng.choice(len(pool["customer"]), size=n, replace=False)
    qty = np.maximum(1, np.round(pool["quantity"][pick] * rng.uniform(0.1, 1.0, size=n))).astype(np.int64)
    customers, inv = np.unique(pool["customer"][pick], return_inverse=True)
    lines = {
        "inv": first_inv + inv,
        "customer": pool["customer"][pick],
        "product": pool["product"][pick],
        "quantity": -qty,
    }
    return lines, len(customers)


__all__ = [
    "CANCEL_SHARE",
    "COUNTRIES",
    "GUEST_SHARE",
    "NON_PRODUCTS",
    "NON_PRODUCT_CATEGORY",
    "InvoiceChunk",
    "RealisticWorld",
    "build_realistic_world",
    "iter_invoice_chunks",
]
