"""Names for TensorFlow / Keras types in annotations, for mypy.

The trainer imports TensorFlow through :func:`trainer.keras_env.require_keras2` (so the Keras 2 check runs
first), which binds ``tf`` to a variable, not a module: mypy cannot resolve ``tf.Tensor`` or ``tf.keras.Model``
in an annotation. TensorFlow ships no type information either, so these aliases are all ``Any``: they say what a
signature expects without claiming checks mypy cannot make. Use them in annotations only; a class that subclasses a
Keras class takes the real class bound to an ``Any``-typed name in its own module (see ``trainer.model.towers``).
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

from typing import Any, TypeAlias

Tensor: TypeAlias = Any
"""``tf.Tensor`` (also a ``tf.RaggedTensor`` or a numpy array Keras converts)."""

Dataset: TypeAlias = Any
"""``tf.data.Dataset``."""

Strategy: TypeAlias = Any
"""``tf.distribute.Strategy``."""

KerasModel: TypeAlias = Any
"""``tf.keras.Model`` (Keras 2)."""

KerasLayer: TypeAlias = Any
"""``tf.keras.layers.Layer`` (Keras 2)."""

StringLookup: TypeAlias = Any
"""``tf.keras.layers.StringLookup`` (Keras 2)."""
