"""Read an extracted dataset (``datasets/{run_id}/``) back as pandas frames."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from b2brec import features
from trainer.errors import PipelineError
from trainer.uris import local_path, store

STRING_FEATURES = features.STRING_FEATURES


def read_metadata(dataset_url: str) -> dict[str, Any]:
    files = store(dataset_url)
    if not files.exists("metadata.json"):
        raise PipelineError(f"{files.url('metadata.json')} is missing; run the extract stage for this run first")
    return json.loads(files.read_text("metadata.json"))


def example_spec(features: list[str]) -> dict[str, Any]:
    """``tf.io.parse_example`` spec of a dataset's features (strings default to "")."""
    from trainer.keras_env import require_keras2

    tf = require_keras2()
    spec: dict[str, Any] = {}
    for name in features:
        if name == "revenue":
            spec[name] = tf.io.FixedLenFeature([], tf.float32)
        elif name == "timestamp":
            spec[name] = tf.io.FixedLenFeature([], tf.int64)
        else:
            spec[name] = tf.io.FixedLenFeature([], tf.string, default_value="")
    return spec


def stream_split(
    dataset_url: str, split: str, metadata: dict[str, Any] | None = None, *, batch_size: int = 4096
) -> Any:
    """A ``tf.data.Dataset`` of parsed batches (dict of tensors) of ``split``, read shard by shard.

    Memory is bounded by the batch size and the readers' buffers (two shards open at a time,
    two batches prefetched), whatever the number of rows: a 10M-line dataset streams in the same
    memory as a 10k-line one (``benchmarks/extractor.py`` measures it).
    """
    from trainer.keras_env import require_keras2

    tf = require_keras2()
    metadata = metadata or read_metadata(dataset_url)
    spec = example_spec(metadata["features"])
    paths = [local_path(store(dataset_url).url(key)) for key in metadata["files"][split]]
    files = tf.data.Dataset.from_tensor_slices(tf.constant(paths, dtype=tf.string))
    records = files.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type="GZIP"),
        cycle_length=2,
        num_parallel_calls=2,
        deterministic=True,
    )
    return (
        records.batch(batch_size)
        .map(lambda batch: tf.io.parse_example(batch, spec), num_parallel_calls=2, deterministic=True)
        .prefetch(2)
    )


def load_split(dataset_url: str, split: str, metadata: dict[str, Any] | None = None) -> pd.DataFrame:
    """All rows of ``split`` (train or test) with the dataset's features as columns (from the stream)."""
    metadata = metadata or read_metadata(dataset_url)
    features = metadata["features"]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in features}
    for batch in stream_split(dataset_url, split, metadata, batch_size=8192):
        for name in features:
            values = batch[name].numpy()
            if name in STRING_FEATURES:
                values = np.array([value.decode("utf-8") for value in values], dtype=object)
            parts[name].append(values)
    frame = pd.DataFrame(
        {
            name: np.concatenate(chunks) if chunks else np.array([], dtype=object if name in STRING_FEATURES else None)
            for name, chunks in parts.items()
        }
    )
    return frame.sort_values(["timestamp", "customer_id", "product_id"], kind="stable").reset_index(drop=True)
