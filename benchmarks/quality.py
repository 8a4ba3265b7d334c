"""Quality benchmark: two-tower vs most-popular vs ALS on the same time split.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python benchmarks/quality.py [--transactions 40000]
        [--movielens ../shared/data/movielens-100k] [--epochs 8] [--skip-demo] [--skip-synthetic] [--skip-movielens]

Synthetic: the project's generator (b2brec.datagen) -> a DuckDB raw_data warehouse mapped as in
environments/demo-dev.yaml -> the real Beam extractor (90-day window, last 14 days test, top 80% of
revenue) -> vocab -> trainer. Headline: Recall with repeat purchases counted ("all"). Two data sets:
the ``b2brec demo`` configuration (50,000 transactions over 365 days, seed 42, 5 epochs) and a denser
one (``--transactions`` over 120 days, ``--epochs``).

MovieLens 100K (read in place, never copied): user -> customer_id, movie -> product_id, rating ->
revenue, rating time -> timestamp, title -> art_name, first genre -> category, second genre (or the
first) -> subcategory, first two digits of the user's zip code -> city. Split: the last 20% of ratings
by time are the test set; already-rated movies are excluded from rankings and truth ("new"), since
people do not re-rate a movie.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from b2brec.backends.warehouse import DuckDBWarehouse  # noqa: E402
from trainer import baselines  # noqa: E402
from trainer.evaluation import EvalSplit, build_split, embedding_scorer, evaluate_both  # noqa: E402
from trainer.fit import TrainConfig, embed_customers, embed_products, fit  # noqa: E402
from trainer.vocab import build_vocabularies  # noqa: E402

console = Console(width=110)
GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def compare(
    train: pd.DataFrame, test: pd.DataFrame, features: list[str], config: TrainConfig, moment: float
) -> dict[str, dict[str, float]]:
    """Fit the model and both baselines on ``train``; evaluate all on ``test`` with one evaluator."""
    vocab = build_vocabularies(train, features)
    result = fit(train, vocab, config)
    split: EvalSplit = build_split(train, test, result.product_ids)
    queries = embed_customers(result, train, split.customers, moment, config.history_length)
    rows = {
        "two-tower": evaluate_both(embedding_scorer(queries, embed_products(result)), split)
        | {"seconds": result.seconds, "examples_per_s": result.examples_per_second}
    }
    for fitter in (baselines.most_popular, baselines.als):
        fitted = fitter(train, split)
        rows[fitted.name] = evaluate_both(fitted.scorer, split) | {
            "seconds": fitted.seconds,
            "examples_per_s": fitted.examples / max(fitted.seconds, 1e-9),
        }
    return rows


def synthetic(transactions: int, days: int, config: TrainConfig, seed: int) -> dict[str, dict[str, float]]:
    from b2brec.datagen import GeneratorConfig, generate
    from b2brec.spec import load_environment
    from trainer.data import load_split, read_metadata
    from trainer.extractor.run import run as extract

    spec = load_environment(REPO / "environments", "demo-dev")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "erp.sqlite"
        generate(GeneratorConfig(transactions=transactions, seed=seed, days=days), f"sqlite:///{source}")
        warehouse = DuckDBWarehouse(Path(tmp) / "warehouse.duckdb")
        with sqlite3.connect(source) as conn, warehouse.connect() as duck:
            duck.execute("CREATE SCHEMA IF NOT EXISTS raw_data")
            for table, mapping in spec.mapping.items():
                columns = ", ".join(f'"{client}" AS "{platform}"' for platform, client in mapping.columns.items())
                frame = pd.read_sql(f'SELECT {columns} FROM "{mapping.table}"', conn)
                if "timestamp" in frame:
                    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
                duck.register("frame", frame)
                duck.execute(f"CREATE TABLE raw_data.{table} AS SELECT * FROM frame")
                duck.unregister("frame")
        dataset = (Path(tmp) / "dataset").as_uri()
        extract(["--warehouse", f"duckdb://{warehouse.path}", "--output", dataset])
        metadata = read_metadata(dataset)
        train, test = load_split(dataset, "train", metadata), load_split(dataset, "test", metadata)
        console.print(f"synthetic: {len(train):,} train / {len(test):,} test rows, {metadata['products']}")
        moment = datetime.fromisoformat(metadata["window"]["test_start"]).timestamp()
        return compare(train, test, metadata["features"], config, moment)


def movielens(folder: Path, config: TrainConfig) -> dict[str, dict[str, float]]:
    if not (folder / "u.data").exists():
        raise SystemExit(f"{folder}/u.data not found; pass --movielens PATH to the movielens-100k folder")
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    items = pd.read_csv(folder / "u.item", sep="|", encoding="latin-1", header=None)
    users = pd.read_csv(folder / "u.user", sep="|", names=["user", "age", "gender", "occupation", "zip"])
    genres = items.iloc[:, 5:24].to_numpy()
    names = [[GENRES[j] for j in range(19) if row[j]] or ["unknown"] for row in genres]
    meta = pd.DataFrame(
        {
            "item": items[0],
            "art_name": items[1].astype(str),
            "category": [n[0] for n in names],
            "subcategory": [n[1] if len(n) > 1 else n[0] for n in names],
        }
    )
    users["city"] = users["zip"].astype(str).str[:2]
    frame = ratings.merge(meta, on="item").merge(users[["user", "city"]], on="user")
    frame = (
        pd.DataFrame(
            {
                "customer_id": "u" + frame["user"].astype(str),
                "product_id": "m" + frame["item"].astype(str),
                "revenue": frame["rating"].astype(float),
                "timestamp": frame["timestamp"].astype("int64"),
                "art_name": frame["art_name"],
                "category": frame["category"],
                "subcategory": frame["subcategory"],
                "city": frame["city"],
            }
        )
        .sort_values(["timestamp", "customer_id", "product_id"], kind="stable")
        .reset_index(drop=True)
    )
    cut = int(len(frame) * 0.8)
    train, test = frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)
    console.print(f"movielens: {len(train):,} train / {len(test):,} test ratings")
    features = ["customer_id", "product_id", "revenue", "timestamp", "art_name", "category", "subcategory", "city"]
    return compare(train, test, features, config, float(test["timestamp"].iloc[0]))


def show(title: str, rows: dict[str, dict[str, float]], view: str) -> None:
    table = Table(
        title=f"{title} ({view}: {'already-bought excluded' if view == 'new' else 'repeats count'}, "
        f"{int(rows['two-tower'][f'{view}/customers'])} customers)"
    )
    for column in ("method", "Recall@10", "Recall@50", "Recall@100", "NDCG@10", "train s", "examples/s"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for name, m in rows.items():
        table.add_row(
            name,
            *(f"{m[f'{view}/{k}']:.4f}" for k in ("recall@10", "recall@50", "recall@100", "ndcg@10")),
            f"{m['seconds']:.1f}",
            f"{m['examples_per_s']:,.0f}",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=40_000)
    parser.add_argument("--movielens", type=Path, default=REPO.parent / "shared/data/movielens-100k")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-demo", action="store_true", help="Skip the b2brec demo configuration")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-movielens", action="store_true")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks/results/quality.json")
    args = parser.parse_args(argv)
    config = replace(TrainConfig(), epochs=args.epochs, seed=args.seed)
    results: dict[str, Any] = {"config": config.params()}
    started = time.perf_counter()
    if not args.skip_demo:
        results["demo"] = synthetic(50_000, 365, replace(config, epochs=5), 42)
        show("b2brec demo configuration", results["demo"], "all")
        show("b2brec demo configuration", results["demo"], "new")
    if not args.skip_synthetic:
        results["synthetic"] = synthetic(args.transactions, 120, config, args.seed)
        show("Synthetic wholesale", results["synthetic"], "all")
        show("Synthetic wholesale", results["synthetic"], "new")
    if not args.skip_movielens:
        results["movielens"] = movielens(args.movielens, config)
        show("MovieLens 100K, time split 80/20", results["movielens"], "new")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    console.print(f"done in {time.perf_counter() - started:.0f}s; results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
