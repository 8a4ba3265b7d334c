"""Each extractor transform on small in-memory data (TestPipeline + assert_that).

Elements are Arrow batches; ``batches`` turns rows into one or more of them and ``rows`` flattens
a PCollection of batches back to dicts, so the expected values stay plain rows."""

from __future__ import annotations

from datetime import UTC, datetime

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from trainer.extractor.transforms import (
    MALFORMED,
    ExtractDataset,
    KeepProducts,
    SplitByTime,
    Summarize,
    TopRevenueProducts,
    ValidateRows,
    encode_examples,
    select_by_revenue,
)

DAY = 86400


def batches(pipeline: beam.Pipeline, data: list[dict], size: int = 2, label: str = "Batches") -> beam.PCollection:
    """Rows as Arrow batches of ``size`` rows (several per test, so combining across batches is exercised)."""
    chunks = [pa.Table.from_pylist(data[i : i + size]) for i in range(0, len(data), size)]
    return pipeline | label >> beam.Create(chunks, reshuffle=False)


def rows(pcoll: beam.PCollection, label: str) -> beam.PCollection:
    return pcoll | label >> beam.FlatMap(lambda batch: batch.to_pylist())


def row(customer: str, product: str, day: int, revenue: float) -> dict:
    return {"customer_id": customer, "product_id": product, "timestamp": day * DAY, "revenue": revenue}


def test_validate_rows_sets_malformed_rows_aside_with_a_reason() -> None:
    data = [
        {
            "customer_id": "c1",
            "product_id": "p1",
            "timestamp": datetime(2026, 1, 2, tzinfo=UTC),
            "revenue": 10,
            "city": None,
        },
        {"customer_id": " ", "product_id": "p1", "timestamp": datetime(2026, 1, 2, tzinfo=UTC), "revenue": 1.0},
        {"customer_id": "c1", "product_id": "p1", "timestamp": None, "revenue": 1.0},
        {"customer_id": "c1", "product_id": "p1", "timestamp": datetime(2026, 1, 2, tzinfo=UTC), "revenue": -5.0},
    ]
    with TestPipeline() as p:
        out = p | beam.Create([pa.Table.from_pylist(data)]) | ValidateRows(("city",))
        # 2026-01-02 00:00 UTC is 1767312000 s; a NULL city becomes "" (present but unknown).
        assert_that(
            rows(out["valid"], "valid"),
            equal_to([{"customer_id": "c1", "product_id": "p1", "timestamp": 1767312000, "revenue": 10.0, "city": ""}]),
        )
        reasons = out[MALFORMED] | beam.Map(lambda bad: bad["reason"].split(" ")[0])
        assert_that(reasons, equal_to(["customer_id", "timestamp", "revenue"]), label="reasons")


def test_select_by_revenue_keeps_products_until_the_share_is_reached() -> None:
    # total 100: A alone is 50%, A+B 80% -> coverage 0.8 keeps A and B, 0.81 also needs C.
    totals = [("C", 15.0), ("A", 50.0), ("D", 5.0), ("B", 30.0)]
    assert select_by_revenue(totals, 0.8)["kept"] == ["A", "B"]
    assert select_by_revenue(totals, 0.81)["kept"] == ["A", "B", "C"]
    assert select_by_revenue(totals, 1.0)["kept"] == ["A", "B", "C", "D"]
    assert select_by_revenue([], 0.8)["kept"] == []


def test_top_revenue_products_and_keep_products() -> None:
    data_rows = [
        row("c1", "A", 1, 30),
        row("c2", "A", 2, 20),
        row("c1", "B", 3, 30),
        row("c1", "C", 4, 15),
        row("c3", "D", 5, 5),
    ]
    with TestPipeline() as p:
        data = batches(p, data_rows)
        selection = data | TopRevenueProducts(0.8)
        assert_that(
            selection | beam.Map(lambda s: (s["kept"], s["total_products"], s["kept_share"])),
            equal_to([(["A", "B"], 4, 0.8)]),
            label="selection",
        )
        kept = rows(data | KeepProducts(selection), "flat") | beam.Map(lambda r: (r["customer_id"], r["product_id"]))
        assert_that(kept, equal_to([("c1", "A"), ("c2", "A"), ("c1", "B")]), label="kept")


def test_split_by_time_puts_the_test_start_in_test() -> None:
    data = [row("c1", "A", 1, 1), row("c1", "B", 10, 1), row("c2", "A", 11, 1)]
    with TestPipeline() as p:
        train, test = batches(p, data) | SplitByTime(10 * DAY)
        assert_that(rows(train, "ft") | "t" >> beam.Map(lambda r: r["product_id"]), equal_to(["A"]), label="train")
        assert_that(
            rows(test, "fs") | "s" >> beam.Map(lambda r: r["customer_id"]), equal_to(["c1", "c2"]), label="test"
        )


def test_summarize_counts_distinct_customers_products_and_range() -> None:
    data = [row("c1", "A", 1, 2.5), row("c1", "B", 3, 1.5), row("c2", "A", 2, 1.0)]
    with TestPipeline() as p:
        stats = batches(p, data) | Summarize()
        assert_that(
            stats,
            equal_to(
                [
                    {
                        "rows": 3,
                        "customers": 2,
                        "products": 2,
                        "min_timestamp": DAY,
                        "max_timestamp": 3 * DAY,
                        "revenue": 5.0,
                    }
                ]
            ),
        )


def test_extract_dataset_chooses_products_on_train_only() -> None:
    # Train (days < 10): A=60, B=40 -> coverage 0.6 keeps A. Test has a big sale of B: still dropped.
    data = [row("c1", "A", 1, 60), row("c2", "B", 2, 40), row("c1", "A", 11, 5), row("c2", "B", 12, 500)]
    with TestPipeline() as p:
        out = batches(p, data) | ExtractDataset(test_start=10 * DAY, coverage=0.6, features=())
        assert_that(
            rows(out["train"], "ft") | "t" >> beam.Map(lambda r: r["product_id"]), equal_to(["A"]), label="train"
        )
        assert_that(rows(out["test"], "fs") | "s" >> beam.Map(lambda r: r["revenue"]), equal_to([5.0]), label="test")
        assert_that(out["test_stats"] | beam.Map(lambda s: s["rows"]), equal_to([1]), label="stats")


def test_encoded_examples_parse_back_with_tensorflow() -> None:
    from trainer.keras_env import require_keras2

    tf = require_keras2()
    # edge cases of the hand-written wire format: empty and non-ASCII strings, a 200-byte name (two-byte
    # length varints), a negative and a zero timestamp, a revenue that is not exactly a float32
    batch = pa.table(
        {
            "customer_id": ["12347", "", "Kunde-Ü"],
            "product_id": ["85123A", "POST", "x" * 3],
            "timestamp": pa.array([1767312000, -1, 0], pa.int64()),
            "revenue": [12.34, 0.0, 1e6 + 0.1],
            "art_name": ["Crème fraîche 1L", "", "N" * 200],
        }
    )
    records = encode_examples(batch, ("art_name",))
    spec = {
        "customer_id": tf.io.FixedLenFeature([], tf.string),
        "product_id": tf.io.FixedLenFeature([], tf.string),
        "art_name": tf.io.FixedLenFeature([], tf.string),
        "timestamp": tf.io.FixedLenFeature([], tf.int64),
        "revenue": tf.io.FixedLenFeature([], tf.float32),
    }
    parsed = tf.io.parse_example(tf.constant(records), spec)
    for key in ("customer_id", "product_id", "art_name"):
        assert [v.decode() for v in parsed[key].numpy()] == batch.column(key).to_pylist(), key
    assert parsed["timestamp"].numpy().tolist() == [1767312000, -1, 0]
    assert parsed["revenue"].numpy().tolist() == [float(np.float32(v)) for v in (12.34, 0.0, 1e6 + 0.1)]
    # the same bytes as TensorFlow's own serializer produces, up to map order: parse both identically
    reference = tf.train.Example()
    reference.ParseFromString(records[0])
    assert reference.features.feature["art_name"].bytes_list.value == ["Crème fraîche 1L".encode()]


def test_extract_dataset_with_a_selection_made_beforehand() -> None:
    # the warehouse chose the products (as the extractor's run does): same rows as choosing them here
    data = [row("c1", "A", 1, 60), row("c2", "B", 2, 40), row("c1", "A", 11, 5), row("c2", "B", 12, 500)]
    chosen = select_by_revenue([("A", 60.0), ("B", 40.0)], 0.6)
    assert chosen["kept"] == ["A"]
    with TestPipeline() as p:
        out = batches(p, data) | ExtractDataset(test_start=10 * DAY, coverage=0.6, features=(), selection=chosen)
        assert_that(
            rows(out["train"], "ft") | "t" >> beam.Map(lambda r: r["product_id"]), equal_to(["A"]), label="train"
        )
        assert_that(rows(out["test"], "fs") | "s" >> beam.Map(lambda r: r["revenue"]), equal_to([5.0]), label="test")
        assert_that(out["selection"] | beam.Map(lambda s: s["kept"]), equal_to([["A"]]), label="selection")
