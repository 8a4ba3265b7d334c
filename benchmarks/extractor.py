"""Extractor benchmark: the Beam extract stage and streaming training input, at real sizes.

    .venv/bin/python benchmarks/extractor.py                       # 1M and 10M lines
    .venv/bin/python benchmarks/extractor.py --lines 500000 --keep /tmp/ex

For each size: the realistic generator writes Parquet files, DuckDB builds ``raw_data`` from them
(mapped as ``realistic_mapping()``: revenue = quantity x unit price, rules applied by the
extractor), then, each in a fresh process so peak memory is its own:

- ``extract``: ``python -m trainer.extractor`` over a 365-day window (the whole history);
- ``baseline``: the same window query (rules included) read by DuckDB into pandas and written as
  Parquet: what a plain query costs, no Beam, no validation, no TFRecords;
- ``stream``: one pass over the training split with ``trainer.data.stream_split`` (tf.data,
  batches of 4096), the way training reads it.

Wall time, CPU time and peak RSS (the child's own ``ru_maxrss``, via ``os.wait4``) are printed as a
table. On a shared machine compare CPU seconds and memory; wall time depends on the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ENV = {
    **os.environ,
    "PYTHONPATH": str(REPO),
    "TF_USE_LEGACY_KERAS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def build_warehouse(lines: int, folder: Path) -> Path:
    """Realistic lines -> Parquet -> DuckDB ``raw_data`` (platform names, revenue derived)."""
    import duckdb

    from b2brec.datagen import GeneratorConfig, generate
    from b2brec.datagen.realistic_tables import realistic_mapping

    export = folder / "export"
    generate(
        GeneratorConfig(transactions=lines, seed=42, mode="realistic", chunk_size=500_000),
        export.as_uri(),
        file_format="parquet",
    )
    path = folder / "warehouse.duckdb"
    mapping = realistic_mapping()
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw_data")
        for table, spec in mapping.items():
            columns = [
                f'CAST("{client}" AS VARCHAR) AS {platform}'
                if platform.endswith("_id")
                else f'"{client}" AS "{platform}"'
                for platform, client in spec["columns"].items()
            ]
            if table == "transactions":
                columns.append("CAST(quantity * unit_price AS DOUBLE) AS revenue")
                columns = [
                    c.replace('"quantity" AS "quantity"', "CAST(quantity AS DOUBLE) AS quantity") for c in columns
                ]
            conn.execute(
                f"CREATE OR REPLACE TABLE raw_data.{table} AS SELECT {', '.join(columns)} "
                f"FROM read_parquet('{export / spec['table']}.parquet')"
            )
    return path


def timed(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MB, stdout) of one child process (``os.wait4``: its
    own rusage, not the maximum over every child so far); ``env`` defaults to ``ENV``."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(args, env=env or ENV, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(args[:4])} failed:\n{err.read()[-3000:]}")
        return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read()


BASELINE = """
import sys, time, duckdb, json
from b2brec.datagen.realistic_tables import realistic_mapping
from b2brec.spec.clientspec import RowRules
from b2brec.rowrules import cleaned_sql
from b2brec.backends.warehouse import to_duckdb_sql
path, out = sys.argv[1], sys.argv[2]
rules = RowRules(**realistic_mapping()["transactions"]["rules"])
conn = duckdb.connect(path, read_only=True)
cols = [d[0] for d in conn.execute("SELECT * FROM raw_data.transactions LIMIT 0").description]
sql = to_duckdb_sql(cleaned_sql(rules, cols))
query = f"SELECT customer_id, product_id, timestamp, revenue FROM ({sql}) WHERE customer_id IS NOT NULL"
frame = conn.execute(query).df()
frame.to_parquet(out)
print(json.dumps({"rows": len(frame)}))
"""

STREAM = """
import sys, json
from trainer.data import read_metadata, stream_split
url = sys.argv[1]
meta = read_metadata(url)
rows = 0
for batch in stream_split(url, "train", meta, batch_size=4096):
    rows += int(batch["customer_id"].shape[0])
print(json.dumps({"rows": rows}))
"""


def bench(lines: int, folder: Path, reuse: bool = False) -> list[tuple[str, float, float, float, str]]:
    started = time.perf_counter()
    warehouse = folder / "warehouse.duckdb"
    if not (reuse and warehouse.exists()):
        warehouse = build_warehouse(lines, folder)
    print(f"{lines:,} lines: data prepared in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    python = sys.executable
    rules = json.dumps(
        __import__("b2brec.datagen.realistic_tables", fromlist=["x"]).realistic_mapping()["transactions"]["rules"]
    )
    dataset = (folder / "dataset").as_uri()
    rows = []
    seconds, cpu, peak, _ = timed([python, "-c", BASELINE, str(warehouse), str(folder / "baseline.parquet")])
    rows.append(("baseline: DuckDB query -> pandas -> Parquet", seconds, cpu, peak, ""))
    seconds, cpu, peak, _ = timed(
        [
            python,
            "-m",
            "trainer.extractor",
            "--warehouse",
            f"duckdb://{warehouse}",
            "--output",
            dataset,
            "--window-days",
            "365",
            "--test-days",
            "30",
            "--rules",
            rules,
        ]
    )
    meta = json.loads((folder / "dataset" / "metadata.json").read_text())
    rows.append(("extract (Beam, in-process runner)", seconds, cpu, peak, f"{meta['rows']['train']:,} train rows"))
    seconds, cpu, peak, out = timed([python, "-c", STREAM, dataset])
    rows.append(("stream training split (tf.data)", seconds, cpu, peak, f"{json.loads(out)['rows']:,} rows"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, action="append", help="sizes (repeatable); default 1M and 10M")
    parser.add_argument("--keep", type=Path, help="keep the data in this folder")
    parser.add_argument("--reuse", action="store_true", help="with --keep: use the data already there")
    args = parser.parse_args()
    sizes = sorted(args.lines or [1_000_000, 10_000_000])
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "lines", "step", "wall s", "CPU s", "lines/s (wall)", "peak RSS MB", "note", title="extractor benchmark"
    )
    for lines in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.keep / str(lines) if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            for step, seconds, cpu, peak, note in bench(lines, folder, args.reuse):
                table.add_row(
                    f"{lines:,}", step, f"{seconds:.1f}", f"{cpu:.1f}", f"{lines / seconds:,.0f}", f"{peak:,.0f}", note
                )
            table.add_section()
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
