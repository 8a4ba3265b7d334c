"""Keras 2 guard: TFRS 0.7 needs tf-keras (Keras 2); TF 2.16+ defaults to Keras 3.

Import TensorFlow through :func:`tensorflow` so the check runs before any model code.
"""

from __future__ import annotations

import os
from types import ModuleType

from trainer.errors import PipelineError

FIX = "set TF_USE_LEGACY_KERAS=1 in the environment before starting Python (and install tf-keras)"


def require_keras2() -> ModuleType:
    """Import TensorFlow and fail with the fix when ``tf.keras`` is not Keras 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise PipelineError(f"the trainer needs Keras 2 (tf-keras) but TF_USE_LEGACY_KERAS is not 1; {FIX}")
    import tensorflow as tf

    version_fn = getattr(tf.keras, "version", None)  # absent in Keras 2
    version = version_fn() if version_fn else "2"
    if not version.startswith("2"):
        raise PipelineError(f"tf.keras is Keras {version}, TFRS needs Keras 2; {FIX}")
    return tf
