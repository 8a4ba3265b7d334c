"""The generated data has the structure a recommender should find (checked cheaply, on 20k lines)."""

from __future__ import annotations

import tracemalloc

import numpy as np

from b2brec.datagen import GeneratorConfig
from b2brec.datagen.sales import iter_sales_chunks
from b2brec.datagen.world import build_world

from .conftest import Generated, simulate


def test_same_seed_same_rows_and_chunking_does_not_matter(sample: Generated) -> None:
    again = simulate(GeneratorConfig(transactions=20_000, seed=42), chunk_size=777)
    for name in ("customer", "product", "quantity", "amount", "sold_at", "updated_at", "line_id"):
        assert np.array_equal(getattr(sample, name), getattr(again, name)), name
    assert again.world.catalog.names == sample.world.catalog.names
    assert again.world.customers.names == sample.world.customers.names


def test_different_seed_different_rows(sample: Generated) -> None:
    other = simulate(GeneratorConfig(transactions=20_000, seed=43))
    assert len(other.product) == len(sample.product) == 20_000
    assert not np.array_equal(other.product, sample.product)
    assert other.world.catalog.names != sample.world.catalog.names


def test_exact_count_ids_and_time_window(sample: Generated) -> None:
    cfg = sample.world.config
    assert np.array_equal(sample.line_id, np.arange(1, 20_001))
    start = sample.world.start_epoch
    assert sample.sold_at.min() >= start and sample.sold_at.max() < start + cfg.days * 86_400
    assert np.all(np.diff(sample.sold_at) >= 0), "line ids follow time, as in an ERP"
    assert np.all(sample.updated_at >= sample.sold_at)
    assert np.all(sample.amount > 0)


def test_popularity_has_a_long_tail(sample: Generated) -> None:
    counts = np.sort(np.bincount(sample.product, minlength=sample.world.config.n_products))[::-1]
    top_decile = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_decile > 0.45  # a uniform catalogue would give 0.10
    assert (counts <= 2).mean() > 0.2  # and many products sell (almost) never


def test_most_customers_repeat_purchases(sample: Generated) -> None:
    n_products = sample.world.config.n_products
    pairs, times = np.unique(sample.customer.astype(np.int64) * n_products + sample.product, return_counts=True)
    buyers = np.unique(sample.customer)
    repeaters = np.unique(pairs[times > 1] // n_products)
    assert len(repeaters) / len(buyers) > 0.75


def test_staples_are_reordered_on_a_regular_cycle(sample: Generated) -> None:
    # gaps between purchase days of one customer-product pair: a memoryless (Poisson) buyer has a
    # coefficient of variation of about 1; a customer re-ordering a staple every ~2 weeks far less.
    key = sample.customer.astype(np.int64) * sample.world.config.n_products + sample.product
    day = sample.sold_at // 86_400
    order = np.lexsort((day, key))
    key, day = key[order], day[order]
    cvs = []
    for days in np.split(day, np.flatnonzero(np.diff(key)) + 1):
        distinct = np.unique(days)
        if len(distinct) >= 5:
            gaps = np.diff(distinct)
            cvs.append(gaps.std() / gaps.mean())
    assert len(cvs) > 200
    assert np.median(cvs) < 0.5


def test_segments_prefer_different_categories(sample: Generated) -> None:
    world = sample.world
    segment = world.customers.segment[sample.customer]
    category = world.catalog.category[sample.product]
    bakery, restaurant = world.customers.segments.index("bakery"), world.customers.segments.index("restaurant")
    flour = world.catalog.categories.index("Bakery Ingredients")
    meat = world.catalog.categories.index("Meat & Poultry")

    def share(seg: int, cat: int) -> float:
        return float((category[segment == seg] == cat).mean())

    assert share(bakery, flour) > 3 * share(restaurant, flour)
    assert share(restaurant, meat) > 3 * share(bakery, meat)


def test_bulk_quantities_and_weekly_rhythm(sample: Generated) -> None:
    assert (sample.quantity > 1).mean() > 0.5
    assert np.percentile(sample.quantity, 90) >= 12
    weekday = (sample.sold_at // 86_400 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    shares = np.bincount(weekday, minlength=7) / len(weekday)
    assert shares[6] < 0.05 < shares[0]  # wholesalers barely deliver on Sundays


def test_product_names_look_real(sample: Generated) -> None:
    names = sample.world.catalog.names
    assert len(set(names)) == len(names)
    assert any(not n.isascii() for n in names)  # e.g. "Crème fraîche", "Müsli", "Jalapeño"
    assert all(any(ch.isdigit() for ch in n) for n in names)  # every name carries a pack size


def test_chunks_are_bounded_and_memory_does_not_grow_with_rows() -> None:
    world = build_world(GeneratorConfig(transactions=200_000, seed=1))
    tracemalloc.start()
    try:
        sizes, peak_per_chunk = [], []
        for chunk in iter_sales_chunks(world, chunk_size=20_000):
            sizes.append(len(chunk))
            peak_per_chunk.append(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    assert sum(sizes) == 200_000 and max(sizes) <= 20_000
    # all 200k lines would need ~11 MB (7 columns x 8 bytes); streaming holds about a chunk and a day
    assert max(peak_per_chunk) < 6_000_000
