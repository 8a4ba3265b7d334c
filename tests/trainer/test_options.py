"""Run options come from the client spec's ``pipeline:`` defaults; CLI overrides win."""

from __future__ import annotations

from pathlib import Path

import pytest

from b2brec.backends.warehouse import DuckDBWarehouse
from b2brec.settings import Settings
from b2brec.spec import load_environment
from trainer.errors import PipelineError
from trainer.extractor.run import run as extract
from trainer.pipeline import RunOptions
from trainer.synthetic import WholesaleConfig, generate, load_into_warehouse


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


def test_features_a_client_leaves_out_are_left_out_of_the_extracted_dataset(tmp_path: Path) -> None:
    """``--exclude-features`` (the client app's feature choice): present in the data, yet not in the
    dataset; the metadata lists them as missing. An unknown or required feature is refused."""
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    load_into_warehouse(warehouse, generate(WholesaleConfig(customers=30, products=60, days=30, seed=2)))
    args = ["--warehouse", warehouse.uri, "--window-days", "30", "--test-days", "7"]
    everything = extract(args + ["--output", (tmp_path / "all").as_uri()])
    assert {"city", "category", "subcategory"} <= set(everything["features"])
    chosen = extract(args + ["--output", (tmp_path / "chosen").as_uri(), "--exclude-features", "city,category"])
    assert "city" not in chosen["features"] and "category" not in chosen["features"]
    assert {"city", "category"} <= set(chosen["missing_features"]) and "subcategory" in chosen["features"]
    assert chosen["rows"]["train"] == everything["rows"]["train"]  # features, not rows
    with pytest.raises(PipelineError, match="only optional features may be left out"):
        extract(args + ["--output", (tmp_path / "bad").as_uri(), "--exclude-features", "customer_id"])
