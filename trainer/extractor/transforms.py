"""Composite Beam transforms of the extractor: pure logic, no I/O (tested with TestPipeline).

Rows are dicts with the platform feature names (``customer_id``, ``product_id``, ``timestamp``,
``revenue`` and whichever of ``city``, ``art_name``, ``category``, ``subcategory`` exist).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from b2brec.features import OPTIONAL_FEATURES

MALFORMED = "malformed"
OPTIONAL_STRING_FEATURES = OPTIONAL_FEATURES  # every optional feature is a string (b2brec/features.py)


def to_epoch_seconds(value: Any) -> int:
    """Timestamps arrive as datetimes (warehouse), dates, or epoch numbers; naive = UTC."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    raise ValueError(f"timestamp {value!r} is not a date, datetime or epoch number")


class _Validate(beam.DoFn):
    """Normalises one row; rows that cannot be used go to the ``malformed`` output with a reason."""

    def __init__(self, features: tuple[str, ...]) -> None:
        self.features = features
        self.valid = Metrics.counter("extractor", "valid_rows")
        self.invalid = Metrics.counter("extractor", "malformed_rows")

    def process(self, row: dict[str, Any]) -> Iterable[Any]:
        try:
            clean = self._clean(row)
        except (ValueError, TypeError) as exc:
            self.invalid.inc()
            yield beam.pvalue.TaggedOutput(MALFORMED, {"row": {k: str(v) for k, v in row.items()}, "reason": str(exc)})
            return
        self.valid.inc()
        yield clean

    def _clean(self, row: dict[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for key in ("customer_id", "product_id"):
            value = "" if row.get(key) is None else str(row[key]).strip()
            if not value:
                raise ValueError(f"{key} is empty")
            clean[key] = value
        if row.get("timestamp") is None:
            raise ValueError("timestamp is empty")
        clean["timestamp"] = to_epoch_seconds(row["timestamp"])
        revenue = row.get("revenue")
        if revenue is None:
            raise ValueError("revenue is empty (and quantity x price is not available)")
        revenue = float(revenue)
        if not math.isfinite(revenue) or revenue < 0:
            raise ValueError(f"revenue {revenue} is not a non-negative number")
        clean["revenue"] = revenue
        for key in OPTIONAL_STRING_FEATURES:
            if key in self.features:
                optional = row.get(key)
                clean[key] = "" if optional is None else str(optional).strip()
        return clean


class ValidateRows(beam.PTransform):
    """rows -> {"valid": rows, "malformed": {"row", "reason"}}."""

    def __init__(self, features: tuple[str, ...]) -> None:
        super().__init__()
        self.features = features

    def expand(self, rows: beam.PCollection) -> dict[str, beam.PCollection]:
        results = rows | beam.ParDo(_Validate(self.features)).with_outputs(MALFORMED, main="valid")
        return {"valid": results.valid, MALFORMED: results[MALFORMED]}


def select_by_revenue(totals: list[tuple[str, float]], coverage: float) -> dict[str, Any]:
    """Products by revenue, largest first, until their cumulative share reaches ``coverage``.

    Ties are broken by product id so the result is reproducible. The product that crosses the
    threshold is kept (coverage 0.8 of A=50, B=30, C=20 keeps A and B: 0.5, then 0.8).
    """
    ordered = sorted(totals, key=lambda item: (-item[1], item[0]))
    total = sum(revenue for _, revenue in ordered)
    kept: list[str] = []
    running = 0.0
    for product_id, revenue in ordered:
        if kept and total > 0 and running / total >= coverage - 1e-12:
            break
        kept.append(product_id)
        running += revenue
    return {
        "kept": kept,
        "total_products": len(ordered),
        "kept_revenue": running,
        "total_revenue": total,
        "kept_share": running / total if total > 0 else 0.0,
        "coverage": coverage,
    }


class TopRevenueProducts(beam.PTransform):
    """rows -> one dict: the products making up the top ``coverage`` share of revenue."""

    def __init__(self, coverage: float) -> None:
        super().__init__()
        self.coverage = coverage

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return (
            rows
            | "Revenue" >> beam.Map(lambda row: (row["product_id"], row["revenue"]))
            | "PerProduct" >> beam.CombinePerKey(sum)
            | "All" >> beam.combiners.ToList()
            | "Select" >> beam.Map(select_by_revenue, self.coverage)
        )


class KeepProducts(beam.PTransform):
    """Keeps rows whose product is in the selection (a singleton PCollection from TopRevenueProducts)."""

    def __init__(self, selection: beam.PCollection) -> None:
        super().__init__()
        self.selection = selection

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        def keep(row: dict[str, Any], selection: dict[str, Any]) -> bool:
            return row["product_id"] in selection["kept_set"]

        as_set = self.selection | "AsSet" >> beam.Map(lambda s: {**s, "kept_set": frozenset(s["kept"])})
        return rows | "Keep" >> beam.Filter(keep, beam.pvalue.AsSingleton(as_set))


class SplitByTime(beam.PTransform):
    """rows -> (train, test): rows at or after ``test_start`` (epoch seconds) are test."""

    def __init__(self, test_start: int) -> None:
        super().__init__()
        self.test_start = test_start

    def expand(self, rows: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        test_start = self.test_start
        # Beam documents a plain callable here (it wraps it in a PartitionFn); its annotation only allows WithTypeHints
        train, test = rows | beam.Partition(lambda row, _: int(row["timestamp"] >= test_start), 2)  # type: ignore[arg-type]
        return train, test


class _StatsFn(beam.CombineFn):
    def create_accumulator(self) -> dict[str, Any]:
        return {"rows": 0, "customers": set(), "products": set(), "min_ts": None, "max_ts": None, "revenue": 0.0}

    def add_input(self, acc: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        acc["rows"] += 1
        acc["customers"].add(row["customer_id"])
        acc["products"].add(row["product_id"])
        ts = row["timestamp"]
        acc["min_ts"] = ts if acc["min_ts"] is None else min(acc["min_ts"], ts)
        acc["max_ts"] = ts if acc["max_ts"] is None else max(acc["max_ts"], ts)
        acc["revenue"] += row["revenue"]
        return acc

    def merge_accumulators(self, accumulators: Iterable[dict[str, Any]]) -> dict[str, Any]:
        merged = self.create_accumulator()
        for acc in accumulators:
            merged["rows"] += acc["rows"]
            merged["customers"] |= acc["customers"]
            merged["products"] |= acc["products"]
            merged["revenue"] += acc["revenue"]
            for key, pick in (("min_ts", min), ("max_ts", max)):
                if acc[key] is not None:
                    merged[key] = acc[key] if merged[key] is None else pick(merged[key], acc[key])
        return merged

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        return {
            "rows": acc["rows"],
            "customers": len(acc["customers"]),
            "products": len(acc["products"]),
            "min_timestamp": acc["min_ts"],
            "max_timestamp": acc["max_ts"],
            "revenue": acc["revenue"],
        }


class Summarize(beam.PTransform):
    """rows -> one dict: rows, distinct customers/products, first/last timestamp, revenue."""

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return rows | beam.CombineGlobally(_StatsFn())


def to_example(row: dict[str, Any], features: tuple[str, ...]) -> bytes:
    """One row as a serialized ``tf.train.Example`` (strings as bytes, revenue float, timestamp int64)."""
    import tensorflow as tf

    def strings(value: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))

    feature = {
        "customer_id": strings(row["customer_id"]),
        "product_id": strings(row["product_id"]),
        "revenue": tf.train.Feature(float_list=tf.train.FloatList(value=[row["revenue"]])),
        "timestamp": tf.train.Feature(int64_list=tf.train.Int64List(value=[row["timestamp"]])),
    }
    for key in OPTIONAL_STRING_FEATURES:
        if key in features:
            feature[key] = strings(row.get(key, ""))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class ExtractDataset(beam.PTransform):
    """Validate, split by time, keep the top-revenue products (chosen on train), summarise.

    Returns a dict of PCollections: train, test (rows), malformed, selection, train_stats, test_stats.
    """

    def __init__(self, *, test_start: int, coverage: float, features: tuple[str, ...]) -> None:
        super().__init__()
        self.test_start = test_start
        self.coverage = coverage
        self.features = features

    def expand(self, rows: beam.PCollection) -> dict[str, beam.PCollection]:
        validated = rows | "Validate" >> ValidateRows(self.features)
        train_all, test_all = validated["valid"] | "Split" >> SplitByTime(self.test_start)
        selection = train_all | "TopRevenue" >> TopRevenueProducts(self.coverage)
        train = train_all | "KeepTrain" >> KeepProducts(selection)
        test = test_all | "KeepTest" >> KeepProducts(selection)
        return {
            "train": train,
            "test": test,
            MALFORMED: validated[MALFORMED],
            "selection": selection,
            "train_stats": train | "TrainStats" >> Summarize(),
            "test_stats": test | "TestStats" >> Summarize(),
        }
