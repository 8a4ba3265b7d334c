"""A preempted train job resumes from its last epoch checkpoint (Spot VMs): the fit runs in a subprocess,
is SIGKILLed once the first epoch's checkpoint exists, and is started again with the same arguments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
EPOCHS = 5

SCRIPT = """
import json, sys, time
import tensorflow as tf
from trainer.fit import TrainConfig, fit
from trainer.synthetic import WholesaleConfig, generate
from trainer.vocab import build_vocabularies
backup, journal, distribute, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if distribute == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
data = generate(WholesaleConfig(customers=40, products=30, days=30, seed=5))
frame = data["transactions"].merge(
    data["products"][["product_id", "name"]].rename(columns={"name": "art_name"}), on="product_id")
frame["timestamp"] = frame["timestamp"].astype("int64") // 10**9
frame = frame.sort_values("timestamp").reset_index(drop=True)
vocab = build_vocabularies(frame, ["customer_id", "product_id", "revenue", "timestamp", "art_name"])

class Journal(tf.keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        with open(journal, "a") as f:
            f.write(json.dumps({"begin": epoch}) + "\\n")
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.5)  # slow enough for the test to kill it between two epochs

config = TrainConfig(embedding_dim=8, layers=(16,), batch_size=32, epochs=epochs, patience=100,
                     distribute=distribute, backup_dir=backup)
result = fit(frame, vocab, config, callbacks=[Journal()])
with open(journal, "a") as f:
    f.write(json.dumps({"done": len(result.history["loss"]), "strategy": result.strategy}) + "\\n")
"""


def _start(backup: str, journal: Path, distribute: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-c", SCRIPT, backup, str(journal), distribute, str(EPOCHS)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _entries(journal: Path) -> list[dict]:
    return [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []


@pytest.mark.parametrize("distribute", ["none", "mirrored"])
def test_killed_fit_resumes_from_its_last_checkpoint(tmp_path: Path, distribute: str) -> None:
    backup_dir = tmp_path / "models" / "v1" / "checkpoints"
    backup = backup_dir.as_uri()  # as the stage passes it: a file:// URL in the models bucket
    journal = tmp_path / "journal.jsonl"
    first = _start(backup, journal, distribute)
    deadline = time.monotonic() + 90
    while not list(backup_dir.rglob("checkpoint")):  # written at the end of the first epoch
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no checkpoint after 90 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed = _entries(journal)
    assert not any("done" in e for e in killed), "the first run finished before it was killed"
    assert 1 <= len(killed) < EPOCHS

    second = _start(backup, journal, distribute)
    _, err = second.communicate(timeout=120)
    first.communicate()  # close the killed run's pipes
    assert second.returncode == 0, err[-3000:]
    resumed = _entries(journal)[len(killed) :]
    begins = [e["begin"] for e in resumed if "begin" in e]
    assert begins[0] > 0, f"restarted from scratch: {begins}"
    assert begins == list(range(begins[0], EPOCHS))  # went on where the checkpoint was, up to the last epoch
    assert begins[0] >= max(e["begin"] for e in killed)  # no finished epoch was lost
    done = resumed[-1]
    assert done["done"] == EPOCHS - begins[0]  # this run's history only holds the resumed epochs
    assert done["strategy"] == ("MirroredStrategy" if distribute == "mirrored" else "_DefaultDistributionStrategy")
    assert not [p for p in backup_dir.rglob("*") if p.is_file()]  # the backup is removed after a successful fit


def test_the_train_stage_checkpoints_per_version_in_the_models_bucket(tmp_path: Path) -> None:
    from trainer.train import _config, _drop_checkpoints, parse_args

    models = (tmp_path / "models").as_uri()
    base = ["--dataset", "d", "--models", models, "--version", "v1", "--mlflow-uri", "http://127.0.0.1:1"]
    args = parse_args(base)
    assert _config(args).backup_dir == f"{models}/v1/checkpoints"
    assert "backup_dir" not in _config(args).params()  # not a hyperparameter logged to MLflow
    assert _config(parse_args([*base, "--checkpoints", "none"])).backup_dir is None
    assert _config(parse_args([*base, "--checkpoints", "gs://b/ck"])).backup_dir == "gs://b/ck"
    left = tmp_path / "models" / "v1" / "checkpoints" / "chief" / "checkpoint"
    left.parent.mkdir(parents=True)
    left.write_text("stale")
    _drop_checkpoints(args)  # after a successful run nothing of the backup remains
    assert not (tmp_path / "models" / "v1" / "checkpoints").exists()
