"""The trainer under MirroredStrategy over 2 logical CPU devices (own process: device setup is global)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

SCRIPT = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from trainer.fit import TrainConfig, embed_products, fit
from trainer.synthetic import WholesaleConfig, generate
from trainer.vocab import build_vocabularies
frame = generate(WholesaleConfig(customers=40, products=30, days=30, seed=5))["transactions"]
products = generate(WholesaleConfig(customers=40, products=30, days=30, seed=5))["products"]
frame = frame.merge(products[["product_id", "name"]].rename(columns={"name": "art_name"}), on="product_id")
frame["timestamp"] = frame["timestamp"].astype("int64") // 10**9
frame = frame.sort_values("timestamp").reset_index(drop=True)
features = ["customer_id", "product_id", "revenue", "timestamp", "art_name"]
vocab = build_vocabularies(frame, features)
result = fit(frame, vocab, TrainConfig(embedding_dim=8, layers=(16,), batch_size=32, epochs=2, distribute="mirrored"))
print(json.dumps({"strategy": result.strategy, "replicas": result.replicas, "losses": result.history["loss"],
                  "shape": list(embed_products(result).shape)}))
"""


def test_fit_under_mirrored_strategy_with_two_logical_devices() -> None:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["strategy"] == "MirroredStrategy" and result["replicas"] == 2
    assert all(loss == loss and loss > 0 for loss in result["losses"])  # finite, positive softmax loss
    assert result["shape"] == [30, 17]  # every product embedded: 8 dimensions, the bias, 8 affinity dimensions


def test_keras3_is_refused_with_the_fix() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    done = subprocess.run(
        [sys.executable, "-c", "import trainer.fit"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode != 0
    assert "TF_USE_LEGACY_KERAS=1" in done.stderr
