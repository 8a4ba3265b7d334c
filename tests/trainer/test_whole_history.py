"""The served model knows each customer's whole history, not just the extracted window.

A warehouse holds 40 days of generated sales plus older purchases, 200 days before the cutoff, far
outside the 60-day window: customer ``C-OLD`` bought only then, and ``C00000`` bought a product then
that they never bought in the window. The real stages run (extract -> vocab -> train, files on
disk, MLflow in a folder) and serving loads the bundle the train stage wrote. Before, the bundle held
only the window's customers: ``C-OLD`` got the popularity fallback and the older purchase was unknown
to the query features, the ranker's history and "exclude purchased".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import DuckDBWarehouse
from b2brec.bundle import read_bundle
from serving.model.state import FilterSpec, build_state
from serving.recommend import recommend
from trainer.synthetic import WholesaleConfig, generate, load_into_warehouse

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # real stages: minutes on a loaded 2-core machine

CONFIG = WholesaleConfig(customers=60, products=60, days=40, orders_per_customer=8, seed=3)
OLD_DAY = CONFIG.end - timedelta(days=200)


def _older_lines(frames: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, str]:
    """Old purchases of ``C-OLD`` (two popular products) and of ``C00000`` (a product it never bought in the
    window); returns them and that product."""
    sales = frames["transactions"]
    popular = sales["product_id"].value_counts().index.tolist()
    own = set(sales.loc[sales["customer_id"] == "C00000", "product_id"])
    forgotten = next(p for p in popular if p not in own)
    rows = [("C-OLD", popular[0]), ("C-OLD", popular[1]), ("C-OLD", popular[0]), ("C00000", forgotten)]
    older = pd.DataFrame(
        {
            "transaction_id": [f"OLD{i}" for i in range(len(rows))],
            "customer_id": [c for c, _ in rows],
            "product_id": [p for _, p in rows],
            "timestamp": [OLD_DAY + timedelta(hours=i) for i in range(len(rows))],
            "quantity": 2.0,
            "revenue": 10.0,
        }
    )
    return older, forgotten


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from trainer.extractor.run import run as extract
    from trainer.train import run as train
    from trainer.vocab import run as vocab

    root = tmp_path_factory.mktemp("whole-history")
    frames = generate(CONFIG)
    older, forgotten = _older_lines(frames)
    frames["transactions"] = pd.concat([older, frames["transactions"]], ignore_index=True)
    frames["customers"] = pd.concat(
        [frames["customers"], pd.DataFrame({"customer_id": ["C-OLD"], "name": ["Old customer"], "city": ["City 9"]})],
        ignore_index=True,
    )
    warehouse = root / "warehouse.duckdb"
    load_into_warehouse(DuckDBWarehouse(warehouse), frames)
    dataset = (root / "dataset").as_uri()
    models = (root / "models").as_uri()
    cutoff = (CONFIG.end + timedelta(days=1)).strftime("%Y-%m-%d")
    window = ["--window-days", "60", "--test-days", "7", "--cutoff", cutoff]
    metadata = extract(["--warehouse", f"duckdb://{warehouse}", "--output", dataset, *window])
    vocab(["--dataset", dataset])
    mlflow = f"sqlite:///{root / 'mlflow.db'}"
    import mlflow as client  # the experiment's artifacts under root, not in ./mlruns of the working directory

    client.set_tracking_uri(mlflow)
    client.create_experiment("b2brec", artifact_location=(root / "artifacts").as_uri())
    quick = ["--no-baselines", "--no-two-tower", "--checkpoints", "none"]  # the two-tower's inputs: last test
    summary = train(["--dataset", dataset, "--models", models, "--version", "v1", "--mlflow-uri", mlflow, *quick])
    bundle = read_bundle(ObjectStore(models), "v1")
    return {"metadata": metadata, "summary": summary, "bundle": bundle, "forgotten": forgotten, "dataset": dataset}


def test_the_extract_summarises_purchases_before_the_window(trained: dict) -> None:
    metadata = trained["metadata"]
    assert datetime.fromisoformat(metadata["window"]["start"]).replace(tzinfo=None) > OLD_DAY
    earlier = pd.read_parquet(Path(trained["dataset"].removeprefix("file://")) / metadata["files"]["earlier"][0])
    assert len(earlier) == 3  # every generated line is inside the window
    old = earlier[earlier["customer_id"] == "C-OLD"]
    assert sorted(old["n_lines"].tolist()) == [1, 2] and set(old["city"]) == {"City 9"}
    assert earlier.loc[earlier["customer_id"] == "C00000", "product_id"].tolist() == [trained["forgotten"]]


def test_a_customer_seen_only_before_the_window_gets_model_results(trained: dict) -> None:
    bundle = trained["bundle"]
    customers = bundle.customers.column("customer_id").to_pylist()
    assert "C-OLD" in customers
    assert bundle.customers.column("city").to_pylist()[customers.index("C-OLD")] == "City 9"
    state = build_state(bundle, approx_threshold=10**9)
    (answer,) = recommend(state, ["C-OLD"], 10, FilterSpec())
    assert answer.source == "model" and not answer.fallback
    # its ranking history is what it bought before the window (counts included)
    assert state.ranking is not None
    items = state.ranking.items("C-OLD")
    bought = {str(state.product_ids[r]): c for r, c in zip(items.rows.tolist(), items.counts.tolist(), strict=True)}
    assert sorted(bought.values()) == [1.0, 2.0]


def test_an_in_window_customer_keeps_what_it_bought_before_the_window(trained: dict) -> None:
    state = build_state(trained["bundle"], approx_threshold=10**9)
    forgotten = trained["forgotten"]
    row = int(np.flatnonzero(state.product_ids == forgotten)[0])
    customer = state.customer_rows["C00000"]
    assert row in state.purchases[customer].tolist()
    assert state.ranking is not None and row in state.ranking.items("C00000").rows.tolist()
    # "exclude purchased" leaves it out even without the warehouse history at hand
    (answer,) = recommend(state, ["C00000"], state.n_products, FilterSpec(exclude_purchased=True))
    assert row not in answer.product_rows[: len(answer.product_rows) - answer.padded].tolist()
    (everything,) = recommend(state, ["C00000"], state.n_products, FilterSpec())
    assert row in everything.product_rows.tolist()


def test_spooled_files_aggregate_like_the_in_memory_frame(trained: dict) -> None:
    """The train stage's Parquet spool + DuckDB gives the aggregates the pandas frame gives."""
    from trainer.data import load_split, read_metadata, spool_split
    from trainer.lines import Lines

    dataset = trained["dataset"]
    metadata = read_metadata(dataset)
    folder = Path(dataset.removeprefix("file://")) / "spool-test"
    folder.mkdir(exist_ok=True)
    spooled = Lines.from_parquet([spool_split(dataset, "train", folder / "train.parquet", metadata, batch_size=100)])
    frame = Lines.from_frame(load_split(dataset, "train", metadata))
    assert spooled.count() == frame.count() == metadata["rows"]["train"]
    moment = float(frame.max_timestamp() or 0) + 1
    key = ["customer_id", "product_id"]
    a = spooled.pairs(moment, 90.0).sort_values(key).reset_index(drop=True)
    b = frame.pairs(moment, 90.0).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[[*key, "n", "last_ts"]], b[[*key, "n", "last_ts"]], check_dtype=False)
    np.testing.assert_allclose(a["decayed"], b["decayed"], rtol=1e-9)
    np.testing.assert_allclose(a["revenue"], b["revenue"], rtol=1e-5)


def test_query_features_of_the_served_state_cover_the_whole_history(trained: dict) -> None:
    """The two-tower's query features at the cutoff come from the window *and* the earlier pairs: the
    inputs the train stage embeds every served customer with (``HybridModel.refreshed``)."""
    from trainer.data import read_metadata, spool_dataset, spool_earlier
    from trainer.examples import queries_at
    from trainer.lines import Lines

    dataset = trained["dataset"]
    metadata = read_metadata(dataset)
    folder = Path(dataset.removeprefix("file://")) / "spool-queries"
    folder.mkdir(exist_ok=True)
    files = spool_dataset(dataset, folder, metadata)
    window = Lines.from_parquet([files["train"], files["test"]])
    full = Lines.from_parquet([files["train"], files["test"]], earlier=spool_earlier(dataset, folder, metadata))
    moment = datetime.fromisoformat(metadata["window"]["cutoff"]).timestamp()
    before, after = (queries_at(lines, ["C-OLD", "C00000"], moment, 50) for lines in (window, full))
    assert (before.history[0] == "").all() and before.frequency[0] == 0  # the window alone: no history
    assert len(set(after.history[0]) - {""}) == 2 and after.frequency[0] > 0  # C-OLD's two products
    assert trained["forgotten"] in after.history[1].tolist()
    assert trained["forgotten"] not in before.history[1].tolist()
    assert after.frequency[1] > before.frequency[1]
    # the catalog stays what sold in the window
    assert full.product_ids() == window.product_ids()
