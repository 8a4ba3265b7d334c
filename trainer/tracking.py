"""MLflow logging helpers shared by the train and register stages."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from trainer.keras_env import require_keras2

_BAD = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_key(name: str) -> str:
    """MLflow keys allow letters, digits, ``_ - . /`` and spaces: ``all/recall@10`` -> ``all/recall_at_10``."""
    return _BAD.sub("_", name.replace("@", "_at_"))


def code_version() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def hardware() -> dict[str, Any]:
    import os
    import platform

    tf = require_keras2()
    return {
        "cpu_count": os.cpu_count() or 0,
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "platform": platform.platform(),
        "tensorflow": tf.__version__,
    }


def epoch_logger() -> Any:
    """A Keras callback logging each epoch's metrics to the active MLflow run."""
    import mlflow

    tf = require_keras2()
    callback: Any = tf.keras.callbacks.Callback  # an Any-typed name: mypy cannot take a base class from `tf`

    class _EpochLogger(callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            mlflow.log_metrics({f"epoch/{metric_key(k)}": float(v) for k, v in (logs or {}).items()}, step=epoch)

    return _EpochLogger()
