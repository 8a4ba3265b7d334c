"""Training at scale: memory and time of the train stage's input paths at 1M and 10M lines.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python benchmarks/training_scale.py                 # 1M and 10M
    TF_USE_LEGACY_KERAS=1 .venv/bin/python benchmarks/training_scale.py --keep /tmp/scale --reuse
    ... --baseline-code DIR   # run the in-memory baseline with another checkout (e.g. the code before streaming)

For each size the realistic generator's lines go into a DuckDB warehouse and through the real Beam
extractor (365-day window = the generator's whole year, the realistic client's row rules), as in
``benchmarks/extractor.py``. Then, each in a fresh process (its own peak RSS and CPU via ``os.wait4``),
the served model is fitted and refreshed up to the cutoff — two-tower capped at one epoch over its
``two_tower_max_rows`` most recent rows, the EASE neighbours, the ranker, the served histories and
query embeddings — from:

- ``in-memory`` (baseline): both splits loaded into pandas frames (``trainer.data.load_split``), the
  way training read its data before; with ``--baseline-code`` that process imports the given checkout;
- ``streaming``: both splits spooled batch by batch from the TFRecords (tf.data) into Parquet and
  read through DuckDB aggregates (``trainer.lines.Lines``), what ``python -m trainer.train`` does now.

Every line of the extracted splits is read by both. Peak RSS, wall and CPU time are printed side by
side with the ratios (machines are shared: compare within one run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.extractor import ENV, build_warehouse, timed  # noqa: E402

RESULT = "RESULT "  # marks the children's figures in their stdout
COMMON = """
import json, sys, time
from datetime import UTC, datetime
from trainer.data import read_metadata
from trainer.fit import TrainConfig
from trainer.model.hybrid import HybridConfig, fit_hybrid

url, epochs = sys.argv[1], int(sys.argv[2])
meta = read_metadata(url)

def epoch(value):
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()

test_start, cutoff = epoch(meta["window"]["test_start"]), epoch(meta["window"]["cutoff"])
config = HybridConfig(train_config=TrainConfig(epochs=epochs), validation_days=30)
started = time.perf_counter()

def report(rows, read, model, served):
    customers = len(served.interactions.customers)
    print("RESULT " + json.dumps({"rows": rows, "read_s": read, "timings": model.timings, "customers": customers}))
"""

IN_MEMORY = (
    COMMON
    + """
import pandas as pd
from trainer.data import load_split
train, test = load_split(url, "train", meta), load_split(url, "test", meta)
read = time.perf_counter() - started
rows = len(train) + len(test)
model = fit_hybrid(train, test_start, list(meta["features"]), config)
served = model.refreshed(pd.concat([train, test], ignore_index=True), cutoff)
report(rows, read, model, served)
"""
)

STREAMING = (
    COMMON
    + """
import tempfile
from trainer.data import spool_dataset
from trainer.lines import Lines
with tempfile.TemporaryDirectory() as tmp:
    files = spool_dataset(url, tmp, meta)
    read = time.perf_counter() - started
    train = Lines.from_parquet([files["train"]], temp_directory=tmp)
    full = Lines.from_parquet([files["train"], files["test"]], temp_directory=tmp)
    rows = full.count()
    model = fit_hybrid(train, test_start, list(meta["features"]), config)
    served = model.refreshed(full, cutoff)
report(rows, read, model, served)
"""
)


def prepare(lines: int, folder: Path, reuse: bool) -> str:
    """The extracted dataset of ``lines`` realistic lines (generated, loaded, extracted once)."""
    dataset = folder / "dataset"
    if reuse and (dataset / "metadata.json").exists():
        return dataset.as_uri()
    from b2brec.datagen.realistic_tables import realistic_mapping

    warehouse = build_warehouse(lines, folder)
    rules = json.dumps(realistic_mapping()["transactions"]["rules"])
    timed(
        [sys.executable, "-m", "trainer.extractor", "--warehouse", f"duckdb://{warehouse}", "--output",
         dataset.as_uri(), "--window-days", "365", "--test-days", "30", "--rules", rules]
    )  # fmt: skip
    return dataset.as_uri()


def bench(url: str, epochs: int, baseline_code: Path | None, paths: list[str]) -> dict[str, dict]:
    found = {}
    scripts = {"in-memory": IN_MEMORY, "streaming": STREAMING}
    for name in paths:
        script = scripts[name]
        env = dict(ENV)
        if name == "in-memory" and baseline_code is not None:
            env["PYTHONPATH"] = str(baseline_code)
        wall, cpu, peak, out = timed([sys.executable, "-c", script, url, str(epochs)], env)
        print(f"  {name}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak {peak:,.0f} MB", file=sys.stderr, flush=True)
        # a library's progress output may share the line (no newline of its own): take what follows the marker
        report = next(line for line in out.splitlines() if RESULT in line)
        found[name] = {"wall": wall, "cpu": cpu, "peak_mb": peak, **json.loads(report.split(RESULT, 1)[1])}
        print(f"  {name}: {found[name]}", file=sys.stderr, flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, action="append", help="sizes (repeatable); default 1M and 10M")
    parser.add_argument("--epochs", type=int, default=1, help="two-tower epochs (capped for time)")
    parser.add_argument("--keep", type=Path, help="keep the generated data and datasets in this folder")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse the datasets already there")
    parser.add_argument("--baseline-code", type=Path, help="checkout whose trainer the in-memory baseline runs")
    parser.add_argument(
        "--paths", nargs="+", default=["in-memory", "streaming"], choices=("in-memory", "streaming"),
        help="which input paths to run (default both)",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "lines", "path", "rows read", "wall s", "CPU s", "read s", "peak RSS MB", "ratio RSS / CPU",
        title="training input at scale (served model, two-tower 1 epoch)",
    )  # fmt: skip
    results: dict[str, dict] = {}
    for lines in sorted(args.lines or [1_000_000, 10_000_000]):
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.keep / str(lines) if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            url = prepare(lines, folder, args.reuse)
            print(f"{lines:,} lines: dataset ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            found = bench(url, args.epochs, args.baseline_code, args.paths)
        results[str(lines)] = found
        base = found.get("in-memory")
        for name, row in sorted(found.items()):
            ratio = f"{row['peak_mb'] / base['peak_mb']:.2f} / {row['cpu'] / base['cpu']:.2f}" if base else "–"
            table.add_row(
                f"{lines:,}", name, f"{row['rows']:,}", f"{row['wall']:.1f}", f"{row['cpu']:.1f}",
                f"{row['read_s']:.1f}", f"{row['peak_mb']:,.0f}", ratio,
            )  # fmt: skip
        table.add_section()
    Console(width=140).print(table)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
