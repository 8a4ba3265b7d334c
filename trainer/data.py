"""Read an extracted dataset (``datasets/{run_id}/``) back as pandas frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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


def _arrow_schema(features: list[str]) -> pa.Schema:
    types = {"revenue": pa.float32(), "timestamp": pa.int64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in features])


def spool_split(
    dataset_url: str, split: str, path: str | Path, metadata: dict[str, Any] | None = None, *, batch_size: int = 16384
) -> Path:
    """Write ``split`` to one local Parquet file, batch by batch from ``stream_split`` (memory: one
    batch), so DuckDB can aggregate it (``trainer.lines.Lines.from_parquet``)."""
    metadata = metadata or read_metadata(dataset_url)
    features = list(metadata["features"])
    schema = _arrow_schema(features)
    path = Path(path)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in stream_split(dataset_url, split, metadata, batch_size=batch_size):
            columns = [
                pa.array(batch[name].numpy(), type=pa.binary()).cast(pa.string())
                if schema.field(name).type == pa.string()
                else pa.array(batch[name].numpy(), type=schema.field(name).type)
                for name in features
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    return path


def spool_dataset(dataset_url: str, folder: str | Path, metadata: dict[str, Any] | None = None) -> dict[str, Path]:
    """Both splits as Parquet files in ``folder``: ``{"train": …, "test": …}``."""
    metadata = metadata or read_metadata(dataset_url)
    out = Path(folder)
    return {split: spool_split(dataset_url, split, out / f"{split}.parquet", metadata) for split in ("train", "test")}


def spool_earlier(dataset_url: str, folder: str | Path, metadata: dict[str, Any] | None = None) -> Path | None:
    """The extractor's pairs from before the window (``metadata.files.earlier``) as a local file, or
    None for a dataset extracted without them."""
    metadata = metadata or read_metadata(dataset_url)
    keys = metadata["files"].get("earlier") or []
    if not keys:
        return None
    path = Path(folder) / "earlier.parquet"
    path.write_bytes(store(dataset_url).read_bytes(keys[0]))
    return path


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
