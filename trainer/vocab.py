"""Stage 2: vocabularies for the eight features, revenue quantile and timestamp buckets.

``python -m trainer.vocab --dataset URL [--output URL]`` writes ``vocabularies.json`` next to the
dataset. Values are ordered by frequency (then value), so index 0.. is stable across runs on the
same data; unseen values map to the model's out-of-vocabulary bucket.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from b2brec.features import ID_FEATURES
from trainer.errors import DataError
from trainer.lines import Lines, as_lines
from trainer.stage import stage_main

log = logging.getLogger(__name__)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
VOCAB_FEATURES = ID_FEATURES


def tokenize(name: str) -> list[str]:
    """Lower-cased word tokens of a product name; unicode letters and digits count ("Crème brûlée" ->
    ["crème", "brûlée"])."""
    return _TOKEN.findall(name.casefold())


def ordered_values(values: Any) -> list[str]:
    """Distinct non-empty values, most frequent first, ties by value."""
    counts = Counter(v for v in values if v)
    return [value for value, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def quantile_boundaries(values: np.ndarray, buckets: int) -> list[float]:
    """Distinct inner quantile boundaries (``buckets`` - 1 at most); constant data gives none."""
    if len(values) == 0 or buckets < 2:
        return []
    qs = np.quantile(np.asarray(values, dtype=np.float64), _inner(buckets))
    return _distinct_above(qs, float(np.min(values)))


def _inner(buckets: int) -> list[float]:
    return [float(q) for q in np.linspace(0, 1, buckets + 1)[1:-1]]


def _distinct_above(quantiles: Any, minimum: float) -> list[float]:
    return sorted({float(q) for q in quantiles if q > minimum})


def _sql_boundaries(lines: Lines, expression: str, buckets: int) -> list[float]:
    """``quantile_boundaries`` of ``expression`` over ``lines``, computed by DuckDB (linear
    interpolation, as numpy's default), so no column is held in memory."""
    if buckets < 2:
        return []
    row = lines.conn.execute(
        f"SELECT quantile_cont({expression}, {_inner(buckets)}), MIN({expression}) FROM {lines.rel}"
    ).fetchone()
    if row is None or row[1] is None:
        return []
    return _distinct_above(row[0], float(row[1]))


def build_vocabularies(
    train: pd.DataFrame | Lines,
    features: list[str],
    *,
    revenue_buckets: int = 10,
    time_buckets: int = 12,
    popularity_buckets: int = 10,
) -> dict[str, Any]:
    """Vocabularies and bucket boundaries from the training split (test values are unseen by design);
    a frame or ``Lines`` (spooled files): DuckDB aggregates, memory bounded by the vocabularies."""
    lines = as_lines(train)
    if lines.count() == 0:
        raise DataError("the training split is empty: no vocabulary can be built; check the extract stage's window")
    vocab: dict[str, Any] = {"features": list(features), "vocabularies": {}}
    for feature in VOCAB_FEATURES:
        if feature in features:
            counts = lines.df(
                f"SELECT {feature} AS value, COUNT(*) AS n FROM {lines.rel} "
                f"WHERE {feature} IS NOT NULL AND {feature} != '' GROUP BY 1"
            )
            pairs = zip(counts["value"].tolist(), counts["n"].tolist(), strict=True)
            vocab["vocabularies"][feature] = [v for v, _ in sorted(pairs, key=lambda item: (-item[1], item[0]))]
    if "art_name" in features:
        names = lines.df(f"SELECT arg_min(art_name, timestamp) AS name FROM {lines.rel} GROUP BY product_id")
        vocab["vocabularies"]["art_name_tokens"] = ordered_values(
            token for name in names["name"].tolist() if isinstance(name, str) for token in tokenize(name)
        )
    vocab["revenue_boundaries"] = _sql_boundaries(lines, "ln(1 + CAST(revenue AS DOUBLE))", revenue_buckets)
    low, high = lines.conn.execute(f"SELECT MIN(timestamp), MAX(timestamp) FROM {lines.rel}").fetchone()  # type: ignore[misc]
    vocab["timestamp_boundaries"] = (
        np.linspace(float(low), float(high), time_buckets + 1)[1:-1].round().tolist() if high > low else []
    )
    counts = lines.product_counts()
    vocab["popularity_boundaries"] = quantile_boundaries(np.log1p(counts.to_numpy()), popularity_buckets)
    vocab["sizes"] = {name: len(values) for name, values in vocab["vocabularies"].items()}
    vocab["hash"] = vocab_hash(vocab)
    return vocab


def vocab_hash(vocab: dict[str, Any]) -> str:
    body = {k: v for k, v in vocab.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def run(argv: list[str] | None) -> dict[str, Any]:
    import tempfile

    from trainer.data import read_metadata, spool_split
    from trainer.uris import store

    parser = argparse.ArgumentParser(prog="python -m trainer.vocab", description=__doc__)
    parser.add_argument("--dataset", required=True, help="Dataset folder URL written by the extractor")
    parser.add_argument("--output", help="vocabularies.json URL (default: DATASET/vocabularies.json)")
    parser.add_argument("--revenue-buckets", type=int, default=10)
    parser.add_argument("--time-buckets", type=int, default=12)
    args = parser.parse_args(argv)
    metadata = read_metadata(args.dataset)
    with tempfile.TemporaryDirectory(prefix="b2brec-vocab-") as tmp:  # streamed to Parquet, aggregated by DuckDB
        train = Lines.from_parquet([spool_split(args.dataset, "train", f"{tmp}/train.parquet", metadata)])
        vocab = build_vocabularies(
            train, metadata["features"], revenue_buckets=args.revenue_buckets, time_buckets=args.time_buckets
        )
        train.conn.close()
    output = args.output or store(args.dataset).url("vocabularies.json")
    parent, _, name = output.rpartition("/")
    store(parent).write_text(name, json.dumps(vocab, indent=1, ensure_ascii=False))
    log.info("vocabularies %s written to %s", vocab["sizes"], output)
    return vocab


def main(argv: list[str] | None = None) -> int:
    return stage_main("vocab", run, argv)


if __name__ == "__main__":
    sys.exit(main())
