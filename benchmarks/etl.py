"""ETL throughput: our dlt load PostgreSQL -> local warehouse vs. a COPY + read_csv baseline.

    .venv/bin/python benchmarks/etl.py [--transactions 1000000] [--keep]

Generates N transactions into a fresh PostgreSQL database (the synthetic generator), then in
the same invocation measures
  (a) ours: `run_etl` full load of the demo mapping into a local client project's DuckDB,
  (b) baseline: `COPY (SELECT <mapped columns>) TO STDOUT` as CSV to a file, then DuckDB
      `read_csv` into the same table shape,
and prints rows/s side by side with the ratio. Needs PostgreSQL on 127.0.0.1 (trust auth).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import psycopg
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from b2brec.datagen import GeneratorConfig, generate
from b2brec.etl import run_etl
from b2brec.projects.local import create_project
from b2brec.settings import Settings
from b2brec.spec import load_environment, parse_spec

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parents[1]
console = Console()

BASELINE_SELECT = """
SELECT line_id::text AS transaction_id, customer_id, sku AS product_id, quantity::float8 AS quantity,
       amount::float8 AS revenue, sold_at AS "timestamp", updated_at
FROM sales
"""


def _spec(settings: Settings, database: str):  # noqa: ANN202 - ClientSpec
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the database and the work folder")
    args = parser.parse_args(argv)

    database = f"b2brec_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    work = Path(tempfile.mkdtemp(prefix="b2brec-bench-etl-"))
    try:
        url = sa.make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)
        console.print(f"generating {args.transactions:,} transactions into PostgreSQL database {database} …")
        started = time.perf_counter()
        generate(GeneratorConfig(transactions=args.transactions, seed=args.seed), url)
        console.print(f"generated in {time.perf_counter() - started:.1f} s")

        settings = Settings(home=work / "home", environments_dir=REPO / "environments")
        spec = _spec(settings, database)
        create_project(spec, settings)
        started = time.perf_counter()
        summary = run_etl(spec, settings, tables=["transactions"])
        ours_s = time.perf_counter() - started
        ours_rows = summary.table("transactions").rows_written

        base_rows, base_s = _baseline(database, work)

        table = Table("method", "rows", "seconds", "rows/s", title="ETL PostgreSQL -> DuckDB warehouse")
        table.add_row(
            "b2brec etl (dlt, pyarrow backend)", f"{ours_rows:,}", f"{ours_s:.1f}", f"{ours_rows / ours_s:,.0f}"
        )
        table.add_row("COPY to CSV + DuckDB read_csv", f"{base_rows:,}", f"{base_s:.1f}", f"{base_rows / base_s:,.0f}")
        console.print(table)
        console.print(f"ours / baseline throughput: {(ours_rows / ours_s) / (base_rows / base_s):.2f}")
    finally:
        if args.keep:
            console.print(f"kept database {database} and folder {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
