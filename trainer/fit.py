"""Train the two-tower model on a training frame; embed customers and products.

Kept apart from the stage entrypoint so the benchmark and tests call the same code.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from b2brec.spec import PipelineDefaults
from trainer.examples import product_table, queries_at, training_queries
from trainer.keras_env import require_keras2
from trainer.model.retrieval import CANDIDATE_INPUTS, TwoTowerModel, build_towers
from trainer.model.towers import TowerConfig
from trainer.tf_types import Dataset, Strategy

tf = require_keras2()
log = logging.getLogger(__name__)


DEFAULTS = PipelineDefaults()


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """The two-tower fit; the hyperparameters a client spec can set default to ``PipelineDefaults``."""

    embedding_dim: int = DEFAULTS.embedding_dim
    layers: tuple[int, ...] = (128,)
    batch_size: int = DEFAULTS.batch_size
    epochs: int = DEFAULTS.epochs
    learning_rate: float = DEFAULTS.learning_rate
    history_length: int = 50
    temperature: float = 0.3
    logq_weight: float = 1.0
    validation_share: float = 0.1
    patience: int = 2
    seed: int = 42
    distribute: str = "auto"  # auto: MirroredStrategy over all GPUs when there are several; mirrored; none
    backup_dir: str | None = None
    """Where each epoch's checkpoint goes (a path, ``file://`` or ``gs://`` URL) so a preempted (Spot) job
    resumes from its last finished epoch; None = no checkpoints. Removed when the fit ends normally."""

    def params(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k != "backup_dir"}


@dataclass
class TrainResult:
    query_model: Any
    candidate_model: Any
    product_ids: list[str]
    history: dict[str, list[float]]
    examples: int
    seconds: float
    strategy: str
    replicas: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def examples_per_second(self) -> float:
        epochs = max(len(self.history.get("loss", [])), 1)
        return self.examples * epochs / max(self.seconds, 1e-9)


def set_seeds(seed: int) -> None:
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)


def choose_strategy(kind: str) -> Strategy:
    if kind == "none":
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _candidate_inputs(table: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    n = len(index)
    inputs = {k: table[k][index] if k in table else np.full(n, "", dtype=object) for k in CANDIDATE_INPUTS}
    inputs["popularity"] = inputs["popularity"].astype(np.float32)
    return inputs


def fit(train: pd.DataFrame, vocab: dict[str, Any], config: TrainConfig, callbacks: list | None = None) -> TrainResult:
    """Fit on ``train`` (rows sorted by time); the last ``validation_share`` of rows drive early stopping."""
    set_seeds(config.seed)
    product_ids = vocab["vocabularies"]["product_id"]
    train = train[train["product_id"].isin(set(product_ids))].reset_index(drop=True)
    table = product_table(train, product_ids)
    position = {p: i for i, p in enumerate(product_ids)}
    product_index = train["product_id"].map(position).to_numpy()
    counts = np.bincount(product_index, minlength=len(product_ids)).astype(np.float64)
    probability = (counts / counts.sum()) ** config.logq_weight
    features = {**training_queries(train, config.history_length).as_inputs(), **_candidate_inputs(table, product_index)}
    features["sampling_probability"] = probability[product_index].astype(np.float32)
    n_val = int(len(train) * config.validation_share) if len(train) >= 50 else 0
    n_train = len(train) - n_val

    def dataset(start: int, stop: int, shuffle: bool) -> Dataset:
        part = {k: v[start:stop] for k, v in features.items()}
        ds = tf.data.Dataset.from_tensor_slices(part)
        if shuffle:
            ds = ds.shuffle(stop - start, seed=config.seed, reshuffle_each_iteration=True)
        return ds.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)

    strategy = choose_strategy(config.distribute)
    with strategy.scope():
        query_model, candidate_model = build_towers(
            vocab, TowerConfig(embedding_dim=config.embedding_dim, layers=tuple(config.layers))
        )
        model = TwoTowerModel(query_model, candidate_model, temperature=config.temperature)
        model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=config.learning_rate))
    monitor = "val_loss" if n_val else "loss"
    all_callbacks = [
        *_backup_callbacks(config.backup_dir),
        tf.keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience, restore_best_weights=True),
        tf.keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=1, min_lr=1e-5),
        *(callbacks or []),
    ]
    started = time.perf_counter()
    history = model.fit(
        dataset(0, n_train, shuffle=True),
        validation_data=dataset(n_train, len(train), False) if n_val else None,
        epochs=config.epochs,
        callbacks=all_callbacks,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    return TrainResult(
        query_model=query_model,
        candidate_model=candidate_model,
        product_ids=list(product_ids),
        history={k: [float(x) for x in v] for k, v in history.history.items()},
        examples=n_train,
        seconds=seconds,
        strategy=type(strategy).__name__,
        replicas=strategy.num_replicas_in_sync,
        extra={"product_table": table},
    )


def _backup_callbacks(backup_dir: str | None) -> list[Any]:
    """``BackupAndRestore`` at ``backup_dir``: on start it restores the weights, optimizer and epoch of the
    last finished epoch (a restarted Spot job goes on from there); on a normal end it deletes the backup.
    EarlyStopping's best-weights memory and ReduceLROnPlateau's counters are not in the backup."""
    if not backup_dir:
        return []
    from trainer.uris import local_path

    path = local_path(backup_dir)
    if tf.io.gfile.exists(path):
        log.info("resuming the fit from the checkpoint in %s", backup_dir)
    return [tf.keras.callbacks.BackupAndRestore(backup_dir=path, save_freq="epoch", delete_checkpoint=True)]


def embed_products(result: TrainResult) -> np.ndarray:
    table = result.extra["product_table"]
    inputs = _candidate_inputs(table, np.arange(len(result.product_ids)))
    return _predict(result.candidate_model, inputs)


def embed_customers(
    result: TrainResult,
    frame: pd.DataFrame,
    customers: list[str],
    moment: float,
    history_length: int,
    cities: dict[str, str] | None = None,
) -> np.ndarray:
    """Customer embeddings as of ``moment`` from their purchases in ``frame``."""
    return _predict(result.query_model, queries_at(frame, customers, moment, history_length, cities).as_inputs())


def _predict(model: Any, inputs: dict[str, np.ndarray], batch: int = 2048) -> np.ndarray:
    n = len(next(iter(inputs.values())))
    chunks = [
        model({k: tf.constant(v[i : i + batch]) for k, v in inputs.items()}, training=False).numpy()
        for i in range(0, n, batch)
    ]
    return np.concatenate(chunks, axis=0).astype(np.float32) if chunks else np.zeros((0, 1), np.float32)
