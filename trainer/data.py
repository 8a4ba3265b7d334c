"""Read an extracted dataset (``datasets/{run_id}/``) back as pandas frames."""

from __future__ import annotations

import json
from typing import Any

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


def load_split(dataset_url: str, split: str, metadata: dict[str, Any] | None = None) -> pd.DataFrame:
    """All rows of ``split`` (train or test) with the dataset's features as columns."""
    from trainer.keras_env import require_keras2

    tf = require_keras2()
    metadata = metadata or read_metadata(dataset_url)
    features = metadata["features"]
    spec: dict[str, Any] = {}
    for name in features:
        if name == "revenue":
            spec[name] = tf.io.FixedLenFeature([], tf.float32)
        elif name == "timestamp":
            spec[name] = tf.io.FixedLenFeature([], tf.int64)
        else:
            spec[name] = tf.io.FixedLenFeature([], tf.string, default_value="")
    paths = [local_path(store(dataset_url).url(key)) for key in metadata["files"][split]]
    columns: dict[str, list[Any]] = {name: [] for name in features}
    if paths:
        dataset = tf.data.TFRecordDataset(paths, compression_type="GZIP").batch(8192)
        for batch in dataset.map(lambda records: tf.io.parse_example(records, spec)):
            for name in features:
                columns[name].extend(batch[name].numpy().tolist())
    frame = pd.DataFrame(columns)
    for name in features:
        if name in STRING_FEATURES:
            frame[name] = [value.decode("utf-8") for value in frame[name]]
    return frame.sort_values(["timestamp", "customer_id", "product_id"], kind="stable").reset_index(drop=True)
