"""Run options come from the client spec's ``pipeline:`` defaults; CLI overrides win."""

from __future__ import annotations

from b2brec.settings import Settings
from b2brec.spec import load_environment
from trainer.pipeline import RunOptions


def test_training_hyperparameters_come_from_the_spec_and_overrides_win(settings: Settings) -> None:
    spec = load_environment(settings.environments_dir, "demo-dev")
    spec = spec.model_copy(
        update={
            "pipeline": spec.pipeline.model_copy(
                update={"epochs": 7, "batch_size": 256, "learning_rate": 0.02, "embedding_dim": 32}
            )
        }
    )
    options = RunOptions.from_spec(spec, epochs=3, batch_size=None)
    assert (options.epochs, options.batch_size, options.learning_rate, options.embedding_dim) == (3, 256, 0.02, 32)
