"""The simulated market: products, customers, their tastes and their staple (re-ordered) products.

Everything here is a function of the config's seed only, so ``generate`` and ``append_changes``
rebuild the same world and new sales keep the structure of the old ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from b2brec.datagen import catalog_data as cd
from b2brec.datagen.config import GeneratorConfig

STAPLE_SHARE = 0.55  # share of a customer's lines that come from regularly re-ordered staples
_PACK = re.compile(r"([\d.]+)\s*(kg|g|ml|L|pcs|rolls?)")
_UNIT_SCALE = {"g": 0.001, "ml": 0.001}


@dataclass(frozen=True)
class Catalog:
    """Products, one entry per array index (index i is SKU ``P{i+1:06d}``)."""

    names: list[str]
    category: np.ndarray  # int index into categories
    subcategory: np.ndarray  # int index into subcategories
    categories: list[str]
    subcategories: list[str]
    sub_category: np.ndarray  # subcategory index -> category index
    price: np.ndarray
    popularity: np.ndarray  # Zipf weights, sum 1
    case_size: np.ndarray  # packs per case: quantities come in multiples of this
    base_units: np.ndarray  # typical packs per order line for an average customer
    updated_at: np.ndarray  # epoch seconds


@dataclass(frozen=True)
class Customers:
    names: list[str]
    segment: np.ndarray
    city: np.ndarray
    segments: list[str]
    cities: list[str]
    activity: np.ndarray  # relative ordering volume (log-normal: a few big accounts)
    size: np.ndarray  # quantity multiplier, from activity
    discount: np.ndarray  # negotiated discount off list price
    hour: np.ndarray  # preferred order time, seconds after midnight
    created_day: np.ndarray  # day index (relative to the window start) the account opened; <0 = before
    end_day: np.ndarray  # day index the account stops ordering (churn); days = never
    created_at: np.ndarray  # epoch seconds
    updated_at: np.ndarray


@dataclass(frozen=True)
class World:
    config: GeneratorConfig
    catalog: Catalog
    customers: Customers
    taste: np.ndarray  # (segment*city group, subcategory) -> unnormalised probability of a line
    order: np.ndarray  # product indices sorted by subcategory (sampling within a subcategory)
    order_key: np.ndarray  # subcategory + cumulative popularity within it, aligned with ``order``
    staple_customer: np.ndarray
    staple_product: np.ndarray
    staple_interval: np.ndarray  # days between re-orders
    staple_units: np.ndarray  # typical packs per re-order
    start_epoch: int

    @property
    def group(self) -> np.ndarray:
        return self.customers.segment * len(self.customers.cities) + self.customers.city

    def sample_products(self, rng: np.random.Generator, groups: np.ndarray, season: np.ndarray | None) -> np.ndarray:
        """One product per line: a subcategory from the group's tastes, then a product by popularity."""
        weights = self.taste if season is None else self.taste * season[None, :]
        cum = np.cumsum(weights, axis=1)
        cum /= cum[:, -1:]
        u = rng.random(len(groups))
        sub = (cum[groups] < u[:, None]).sum(axis=1)
        sub = np.minimum(sub, cum.shape[1] - 1)
        pos = np.searchsorted(self.order_key, sub + rng.random(len(groups)) * 0.999999, side="right")
        return self.order[np.minimum(pos, len(self.order) - 1)]

    def day_of_year(self, day: int) -> int:
        return (datetime(1970, 1, 1) + timedelta(seconds=int(self.start_epoch + day * 86400))).timetuple().tm_yday

    def season(self, day: int) -> np.ndarray:
        """Per-subcategory multiplier for a window day (summer ice cream, Christmas baking...)."""
        doy = self.day_of_year(day)
        mult = np.ones(len(self.catalog.subcategories))
        for name, (amp, peak) in cd.CATEGORY_SEASONS.items():
            cat = self.catalog.categories.index(name)
            mult[self.catalog.sub_category == cat] = 1 + amp * np.cos(2 * np.pi * (doy - peak) / 365.25)
        return mult


def _pack_amount(pack: str) -> float:
    match = _PACK.search(pack)
    if match is None:
        return 1.0
    return float(match.group(1)) * _UNIT_SCALE.get(match.group(2), 1.0)


def build_catalog(cfg: GeneratorConfig, rng: np.random.Generator) -> Catalog:
    categories = list(cd.CATALOG)
    subcategories: list[str] = []
    sub_category: list[int] = []
    combos: list[tuple[int, str, float, str]] = []  # (subcategory, item, price, pack)
    for ci, (_cat, subs) in enumerate(cd.CATALOG.items()):
        for sub, items in subs.items():
            subcategories.append(sub)
            sub_category.append(ci)
            for item, ref_price, packs in items:
                ref = _pack_amount(packs[0])
                for pack in packs:
                    price = ref_price * (_pack_amount(pack) / ref) ** 0.9
                    combos.append((len(subcategories) - 1, item, price, pack))
    n_brands, n_quals = len(cd.BRANDS), len(cd.QUALIFIERS)
    space = len(combos) * n_brands * n_quals
    picks = np.sort(rng.choice(space, size=cfg.n_products, replace=False))
    rng.shuffle(picks)  # SKU order is not catalogue order
    combo, rest = np.divmod(picks, n_brands * n_quals)
    brand, qual = np.divmod(rest, n_quals)
    sub_of_combo = np.array([c[0] for c in combos])
    subcategory = sub_of_combo[combo]
    category = np.array(sub_category)[subcategory]
    brand_factor = rng.lognormal(0.0, 0.15, size=len(cd.BRANDS))
    qual_factor = np.array([1.0, 1.25, 1.35])
    base_price = np.array([c[2] for c in combos])[combo]
    price = np.maximum(0.05, np.round(base_price * brand_factor[brand] * qual_factor[qual], 2))
    names = []
    for i in range(cfg.n_products):
        _sub, item, _price, pack = combos[combo[i]]
        qualifier = cd.QUALIFIERS[qual[i]]
        if qualifier == "Organic" and categories[category[i]] in {"Disposables", "Cleaning & Hygiene"}:
            qualifier = "Eco"
        if qualifier and qualifier in item:
            qualifier = ""
        names.append(" ".join(part for part in (cd.BRANDS[brand[i]], qualifier, item, pack) if part))
    ranks = rng.permutation(cfg.n_products) + 1
    popularity = 1.0 / ranks**1.05 * np.where(qual > 0, 0.6, 1.0)
    popularity /= popularity.sum()
    case_size = np.select([price < 2.0, price < 8.0], [np.where(price < 1.0, 24, 12), 6], 1)
    base_units = np.clip(60.0 / price**0.75, 1.0, 60.0)
    start = _epoch(cfg)
    updated = start - rng.integers(0, 400 * 86400, size=cfg.n_products) + cfg.days * 86400 // 2
    return Catalog(
        names,
        category,
        subcategory,
        categories,
        subcategories,
        np.array(sub_category),
        price,
        popularity,
        case_size.astype(np.int64),
        base_units,
        updated,
    )


def build_customers(cfg: GeneratorConfig, rng: np.random.Generator) -> Customers:
    n = cfg.n_customers
    segments = list(cd.SEGMENTS)
    seg_share = np.array([cd.SEGMENTS[s][0] for s in segments])
    cities = list(cd.CITIES)
    city_share = np.array([cd.CITIES[c][0] for c in cities])
    segment = rng.choice(len(segments), size=n, p=seg_share / seg_share.sum())
    city = rng.choice(len(cities), size=n, p=city_share / city_share.sum())
    activity = rng.lognormal(0.0, 1.0, size=n)
    size = (activity / activity.mean()) ** 0.3
    # negotiated discounts: mostly a few percent, hotel chains a little more
    discount = np.round(rng.beta(2, 30, size=n) + 0.03 * (segment == segments.index("hotel")), 3)
    opening_hour = {"bakery": 4, "cafe": 6, "hotel": 7, "restaurant": 9, "catering": 7, "retail": 6}
    hours = np.array([opening_hour[s] for s in segments])[segment]
    hour = (hours * 3600 + rng.integers(0, 4 * 3600, size=n)).astype(np.int64)
    # 80 % of accounts exist before the window; the rest open during it. About 8 % churn.
    created_day = np.where(rng.random(n) < 0.8, -rng.integers(1, 3 * 365, size=n), rng.integers(0, cfg.days, size=n))
    churn_day = created_day + rng.integers(30, 2 * cfg.days, size=n)
    end_day = np.where((rng.random(n) < 0.08) & (churn_day < cfg.days), np.maximum(churn_day, 1), cfg.days)
    start = _epoch(cfg)
    created_at = start + created_day * 86400 + rng.integers(8 * 3600, 18 * 3600, size=n)
    updated_at = np.maximum(
        created_at, start + np.minimum(end_day, cfg.days - 1) * 86400 - rng.integers(0, 86400 * 60, size=n)
    )
    used: set[str] = set()
    names: list[str] = []
    prefix = rng.integers(0, len(cd.NAME_PREFIXES), size=n)
    noun_pick = rng.integers(0, 100, size=n)
    for i in range(n):
        nouns = cd.SEGMENTS[segments[segment[i]]][1]
        name = f"{cd.NAME_PREFIXES[prefix[i]]} {nouns[noun_pick[i] % len(nouns)]}"
        if name in used:
            name = f"{name} {cities[city[i]]}"
        if name in used:
            name = f"{name} {len(used) + 1}"
        used.add(name)
        names.append(name)
    return Customers(
        names,
        segment,
        city,
        segments,
        cities,
        activity,
        size,
        np.minimum(discount, 0.2),
        hour,
        created_day,
        end_day,
        created_at,
        updated_at,
    )


def _taste(catalog: Catalog, customers: Customers, rng: np.random.Generator) -> np.ndarray:
    n_sub = len(catalog.subcategories)
    mass = np.bincount(catalog.subcategory, weights=catalog.popularity, minlength=n_sub)
    rows = []
    for seg in customers.segments:
        cat_taste = cd.SEGMENT_TASTES.get(seg, {})
        sub_taste = cd.SUBCATEGORY_TASTES.get(seg, {})
        base = np.array(
            [
                cat_taste.get(catalog.categories[catalog.sub_category[s]], 1.0)
                * sub_taste.get(catalog.subcategories[s], 1.0)
                for s in range(n_sub)
            ]
        )
        for city in customers.cities:
            coastal = cd.CITIES[city][1]
            city_effect = rng.lognormal(0.0, 0.3, size=n_sub)  # local habits
            if coastal:
                for name, boost in cd.COASTAL_BOOST.items():
                    city_effect[catalog.sub_category == catalog.categories.index(name)] *= boost
            rows.append(base * city_effect * mass)
    return np.array(rows)


def sampling_keys(catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """Products sorted by subcategory, and subcategory + cumulative popularity within it (for sampling)."""
    order = np.lexsort((np.arange(len(catalog.names)), catalog.subcategory))
    within = np.zeros(len(order))
    sub_sorted = catalog.subcategory[order]
    pop_sorted = catalog.popularity[order]
    for s in np.unique(sub_sorted):
        idx = np.flatnonzero(sub_sorted == s)
        within[idx] = np.cumsum(pop_sorted[idx]) / pop_sorted[idx].sum()
    order_key = sub_sorted + within
    # fix the boundary: a key of exactly s+1 belongs to subcategory s
    return order, np.where(within >= 1.0, sub_sorted + 0.9999999, order_key)


def build_world(cfg: GeneratorConfig) -> World:
    world_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1]))
    catalog = build_catalog(cfg, world_rng)
    customers = build_customers(cfg, world_rng)
    taste = _taste(catalog, customers, world_rng)
    order, order_key = sampling_keys(catalog)
    none = np.empty(0)
    world = World(
        cfg,
        catalog,
        customers,
        taste,
        order,
        order_key,
        staple_customer=none,
        staple_product=none,
        staple_interval=none,
        staple_units=none,
        start_epoch=_epoch(cfg),
    )
    return _with_staples(world, world_rng)


def _with_staples(world: World, rng: np.random.Generator) -> World:
    cfg, cust = world.config, world.customers
    active_days = np.clip(cust.end_day, 0, cfg.days) - np.clip(cust.created_day, 0, cfg.days)
    active_days = np.maximum(active_days, 1)
    volume = cust.activity * active_days
    expected_lines = cfg.transactions * volume / volume.sum()
    k = np.clip(np.round(0.9 * np.sqrt(expected_lines)), 1, min(60, cfg.n_products // 4)).astype(np.int64)
    owner = np.repeat(np.arange(cfg.n_customers), k)
    product = world.sample_products(rng, world.group[owner], None)
    key = np.unique(owner * cfg.n_products + product)  # a staple listed twice is one staple
    owner, product = np.divmod(key, cfg.n_products)
    k_unique = np.bincount(owner, minlength=cfg.n_customers)
    staple_lines = STAPLE_SHARE * expected_lines
    interval = active_days[owner] * k_unique[owner] / np.maximum(staple_lines[owner], 1e-9)
    interval = np.clip(interval * rng.lognormal(0.0, 0.35, size=len(owner)), 2.0, active_days[owner])
    units = world.catalog.base_units[product] * cust.size[owner] * rng.lognormal(0.0, 0.3, size=len(owner))
    return World(
        world.config,
        world.catalog,
        cust,
        world.taste,
        world.order,
        world.order_key,
        owner,
        product,
        interval,
        units,
        world.start_epoch,
    )


def _epoch(cfg: GeneratorConfig) -> int:
    return int((datetime.combine(cfg.start_date, datetime.min.time()) - datetime(1970, 1, 1)).total_seconds())
