"""ETL throughput: our dlt load PostgreSQL -> local warehouse vs. a COPY + read_csv baseline.

    .venv/bin/python benchmarks/etl.py [--transactions 100000 1000000] [--keep]

For each size N (default 100k and 1M, to separate fixed per-run cost from per-row throughput):
generate N transactions into a fresh PostgreSQL database (the synthetic generator), then measure
  (a) ours: `run_etl` full load of the demo mapping into a fresh local client project's DuckDB
      (a first load: incremental cursor, merge on the key, crash-safe packages),
  (b) ours again with no source change (0 rows): the fixed cost every run pays,
  (c) baseline: `COPY (SELECT <mapped columns>) TO STDOUT` as CSV to a file, then DuckDB
      `read_csv` into the same table shape,
and print one table: rows, seconds, rows/s and ours / baseline throughput per size, with the
load average (the machine is shared). Needs PostgreSQL on 127.0.0.1 (trust auth).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import psycopg
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from b2brec.context import context_for_spec
from b2brec.datagen import GeneratorConfig, generate
from b2brec.etl import run_etl
from b2brec.etl.sources import table_backend
from b2brec.projects.local import create_project
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, SourceKind, load_environment, parse_spec

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parents[1]
console = Console(width=None if sys.stdout.isatty() else 120)  # the table; full width in logs too
progress = Console(stderr=True)  # progress lines (a child measuring one size prints JSON on stdout)

BASELINE_SELECT = """
SELECT line_id::text AS transaction_id, customer_id, sku AS product_id, quantity::float8 AS quantity,
       amount::float8 AS revenue, sold_at AS "timestamp", updated_at
FROM sales
"""


@dataclass(frozen=True)
class Result:
    size: int
    method: str
    rows: int
    seconds: float
    ratio: float | None = None  # ours / baseline throughput

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def _spec(settings: Settings, database: str) -> ClientSpec:
    data = load_environment(settings.environments_dir, "demo-dev").model_dump(mode="json")
    data["client_id"] = "bench-etl"
    data["name"] = "Bench ETL"
    data["sources"] = {
        "erp": {"kind": "postgresql", "host": "127.0.0.1", "port": 5432, "database": database, "username": "postgres"}
    }
    return parse_spec(data, origin="benchmarks/etl.py")


def _baseline(database: str, work: Path) -> tuple[int, float]:
    """COPY to a CSV file, then DuckDB read_csv into a fresh table; returns (rows, seconds)."""
    csv_path = work / "sales.csv"
    started = time.perf_counter()
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={database}") as conn:
        with conn.cursor() as cur, csv_path.open("wb") as out:
            with cur.copy(f"COPY ({BASELINE_SELECT}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
                for block in copy:
                    out.write(block)
    with duckdb.connect(str(work / "baseline.duckdb")) as db:
        db.execute("CREATE SCHEMA IF NOT EXISTS raw_data")
        db.execute(
            "CREATE OR REPLACE TABLE raw_data.transactions AS SELECT * FROM read_csv(?, header = true, columns = {"
            "'transaction_id': 'VARCHAR', 'customer_id': 'VARCHAR', 'product_id': 'VARCHAR', 'quantity': 'DOUBLE', "
            "'revenue': 'DOUBLE', 'timestamp': 'TIMESTAMPTZ', 'updated_at': 'TIMESTAMPTZ'})",
            [str(csv_path)],
        )
        rows = db.execute("SELECT count(*) FROM raw_data.transactions").fetchone()[0]
    return int(rows), time.perf_counter() - started


def _measure(size: int, seed: int, admin: sa.Engine, keep: bool) -> list[Result]:
    database = f"b2brec_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    work = Path(tempfile.mkdtemp(prefix="b2brec-bench-etl-"))
    try:
        url = sa.make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)
        progress.print(f"generating {size:,} transactions into PostgreSQL database {database} …")
        started = time.perf_counter()
        generate(GeneratorConfig(transactions=size, seed=seed), url)
        progress.print(f"generated in {time.perf_counter() - started:.1f} s")

        settings = Settings(home=work / "home", environments_dir=REPO / "environments")
        spec = _spec(settings, database)
        create_project(spec, settings)
        started = time.perf_counter()
        summary = run_etl(context_for_spec(spec, settings), tables=["transactions"])
        ours_s = time.perf_counter() - started
        ours_rows = summary.table("transactions").rows_written
        started = time.perf_counter()
        again = run_etl(context_for_spec(spec, settings), tables=["transactions"])
        again_s = time.perf_counter() - started

        base_rows, base_s = _baseline(database, work)
        ratio = (ours_rows / ours_s) / (base_rows / base_s)
        backend = table_backend(SourceKind.POSTGRESQL)
        return [
            Result(size, f"ours: first load (dlt, {backend})", ours_rows, ours_s, ratio),
            Result(size, "ours: next run, 0 new rows (fixed cost)", again.rows_written, again_s),
            Result(size, "baseline: COPY to CSV + DuckDB read_csv", base_rows, base_s),
        ]
    finally:
        if keep:
            progress.print(f"kept database {database} and folder {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def render(results: list[Result], load_before: float, load_after: float) -> Table:
    title = f"ETL PostgreSQL -> DuckDB warehouse (load average {load_before:.1f} before, {load_after:.1f} after)"
    table = Table("transactions", "method", "rows", "seconds", "rows/s", "ours / baseline", title=title)
    for result in results:
        rate = f"{result.rows_per_second:,.0f}" if result.rows else "-"
        ratio = f"{result.ratio:.2f}" if result.ratio is not None else ""
        table.add_row(f"{result.size:,}", result.method, f"{result.rows:,}", f"{result.seconds:.2f}", rate, ratio)
    return table


def _measure_in_child(size: int, seed: int, keep: bool) -> list[Result]:
    """Each size in a fresh interpreter, so each pays the same lazy imports, as a real ETL job does."""
    argv = [sys.executable, __file__, "--one", str(size), "--seed", str(seed), *(["--keep"] if keep else [])]
    child = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True)
    return [Result(**item) for item in json.loads(child.stdout.strip().splitlines()[-1])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, nargs="+", default=[100_000, 1_000_000], metavar="N")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the databases and the work folders")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.transactions) or (args.one is not None and args.one < 1):
        parser.error("--transactions takes positive numbers of rows, e.g. --transactions 100000 1000000")

    if args.one is not None:
        admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            results = _measure(args.one, args.seed, admin, args.keep)
        finally:
            admin.dispose()
        print(json.dumps([asdict(r) for r in results]))
        return
    load_before = os.getloadavg()[0]
    results = [r for size in args.transactions for r in _measure_in_child(size, args.seed, args.keep)]
    console.print(render(results, load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
