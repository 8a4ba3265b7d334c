"""Quality benchmark: the served model vs. every baseline, same split, same truth, three data sets.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python benchmarks/quality.py
        [--movielens ../shared/data/movielens-100k] [--completejourney ../shared/data/completejourney-sample]
        [--transactions 300000] [--mode realistic|demo] [--epochs 5] [--skip NAME ...]

Data sets (read in place, never copied; see ``benchmarks/datasets.py`` for the field mapping):
MovieLens 100K (cutoff at the 80th percentile of rating times, test = the rest), the Complete
Journey sample (real retail lines; test = last 30 days) and the project's synthetic wholesale data
(``--mode realistic``, the default: invoice lines calibrated to a real wholesaler, cleaned as
``environments/realistic-dev.yaml`` maps them; test = last 30 days).

For each: the served model (``trainer/model/hybrid.py``: two-tower retrieval + own history + EASE
neighbours + popularity, re-ranked by gradient-boosted trees trained on the period before the
cutoff) and the baselines (most popular, own past purchases recency-weighted, EASE, ALS, and the
rank fusion of own history and EASE), all trained on rows before the cutoff and scored by
``trainer/evaluation.py`` on everything each customer bought in the test period.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks import datasets  # noqa: E402
from trainer.evaluation import time_split  # noqa: E402
from trainer.experiment import MODEL, compare  # noqa: E402
from trainer.fit import TrainConfig  # noqa: E402
from trainer.model.hybrid import HybridConfig  # noqa: E402

console = Console(width=140)
COLUMNS = (
    ("R@10", "all/recall@10"),
    ("R@100", "all/recall@100"),
    ("R@10 new", "new/recall@10"),
    ("R@100 new", "new/recall@100"),
    ("R@100 repeat", "repeat/recall@100"),
    ("NDCG@10", "all/ndcg@10"),
    ("cov@10", "all/coverage@10"),
)


def run_one(dataset: datasets.Dataset, epochs: int, seed: int) -> dict[str, Any]:
    train, test = time_split(dataset.frame, dataset.cutoff, dataset.test_days)
    features = [c for c in dataset.frame.columns if c in datasets.FEATURES]
    config = HybridConfig(
        train_config=TrainConfig(epochs=epochs, seed=seed), validation_days=min(30, dataset.test_days), seed=seed
    )
    started = time.perf_counter()
    result = compare(train, test, dataset.cutoff.timestamp(), features, config)
    return {
        "name": dataset.name,
        "note": dataset.note,
        "cutoff": dataset.cutoff.isoformat(),
        "test_days": dataset.test_days,
        "info": {k: v for k, v in result.info.items() if isinstance(v, (int, float, str, dict))},
        "rows": result.rows,
        "quality": result.quality.to_dict(),
        "seconds": time.perf_counter() - started,
    }


def show(found: dict[str, Any]) -> None:
    info = found["info"]
    table = Table(
        title=f"{found['name']}: {info['train_rows']:,} train / {info['test_rows']:,} test lines, "
        f"{info['customers']:,} customers, {info['catalog']:,} products, "
        f"{info['repeat_share']:.0%} of test pairs re-orders"
    )
    table.add_column("method")
    for title, _ in COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("fit s", justify="right")
    rows = found["rows"]
    best = {key: max(m[key] for m in rows.values()) for _, key in COLUMNS}
    for name, metrics in rows.items():
        cells = [
            f"[bold]{metrics[key]:.4f}[/bold]" if metrics[key] == best[key] else f"{metrics[key]:.4f}"
            for _, key in COLUMNS
        ]
        table.add_row(name, *cells, f"{metrics.get('seconds', 0.0):.1f}")
    console.print(table)


def summary(results: dict[str, Any]) -> None:
    """Does the served model lead every baseline at Recall@100 on each data set, and at Recall@10 on two?"""
    leads_100 = leads_10 = 0
    for found in results.values():
        rows = found["rows"]
        model = rows[MODEL]
        others = [m for n, m in rows.items() if n != MODEL]
        a100 = all(model["all/recall@100"] > m["all/recall@100"] for m in others)
        a10 = all(model["all/recall@10"] > m["all/recall@10"] for m in others)
        leads_100 += a100
        leads_10 += a10
        console.print(
            f"{found['name']}: leads every baseline at Recall@100: {'yes' if a100 else 'NO'}; "
            f"at Recall@10: {'yes' if a10 else 'no'}"
        )
    console.print(f"Recall@100 lead on {leads_100}/{len(results)} data sets; Recall@10 lead on {leads_10}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movielens", type=Path, default=REPO.parent / "shared/data/movielens-100k")
    parser.add_argument("--completejourney", type=Path, default=REPO.parent / "shared/data/completejourney-sample")
    parser.add_argument("--transactions", type=int, default=300_000, help="Synthetic lines to generate")
    parser.add_argument(
        "--mode", default="realistic", choices=("realistic", "demo"), help="Generator mode of the synthetic data"
    )
    parser.add_argument("--synthetic-sqlite", type=Path, help="Read generated data from this SQLite file instead")
    parser.add_argument("--epochs", type=int, default=5, help="Upper bound of two-tower epochs (early stopping)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip", nargs="*", default=[], choices=("movielens", "completejourney", "synthetic"))
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks/results/quality.json")
    args = parser.parse_args(argv)
    loaders = {
        "movielens": lambda: datasets.movielens(args.movielens),
        "completejourney": lambda: datasets.completejourney(args.completejourney),
        "synthetic": lambda: datasets.synthetic(
            args.transactions, args.seed, mode=args.mode, source=args.synthetic_sqlite
        ),
    }
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for key, load in loaders.items():
        if key in args.skip:
            continue
        dataset = load()
        console.print(f"{dataset.name}: cutoff {dataset.cutoff:%Y-%m-%d %H:%M}, test {dataset.test_days} days")
        results[key] = run_one(dataset, args.epochs, args.seed)
        show(results[key])
    summary(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, **results}, indent=2))
    console.print(f"done in {time.perf_counter() - started:.0f}s; results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
