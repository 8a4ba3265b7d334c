"""``b2brec data``: generate a synthetic client ERP database (or CSV/Parquet export)."""

from __future__ import annotations

from datetime import date, datetime

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from b2brec.datagen import GeneratorConfig, append_changes, generate
from b2brec.datagen.config import DEFAULT_END_DATE, MAX_TRANSACTIONS, MIN_TRANSACTIONS
from b2brec.datagen.targets import FILE_FORMATS, parse_target
from b2brec.projects.local import upload_area
from b2brec.spec import load_environment
from cli.common import console, err_console, load_settings, user_errors

DEMO_ENVIRONMENT = "demo-dev"
DEMO_SOURCE_FILE = "demo-erp.sqlite"
REALISTIC_ENVIRONMENT = "realistic-dev"
REALISTIC_SOURCE_FILE = "realistic-erp.sqlite"
"""The demo's ERP database, in the demo client's upload area (where its spec's source path points)."""

app = typer.Typer(help="Synthetic B2B sales data (a client ERP's customers, products and sales).", no_args_is_help=True)


def _end_date(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-01") from None


def _transactions(value: int) -> int:
    if not MIN_TRANSACTIONS <= value <= MAX_TRANSACTIONS:
        raise typer.BadParameter(f"must be between {MIN_TRANSACTIONS:,} and {MAX_TRANSACTIONS:,}, got {value:,}")
    return value


@app.command("generate")
@user_errors
def generate_cmd(
    transactions: int = typer.Option(
        100_000,
        "--transactions",
        "-n",
        callback=_transactions,
        help=f"Sales lines to generate ({MIN_TRANSACTIONS:,} to {MAX_TRANSACTIONS:,}).",
    ),
    customers: int | None = typer.Option(None, "--customers", help="Customers (default: scales with -n)."),
    products: int | None = typer.Option(None, "--products", help="Products (default: scales with -n)."),
    seed: int = typer.Option(42, "--seed", help="Random seed: same seed and options give identical data."),
    days: int = typer.Option(365, "--days", help="Length of the sales history in days."),
    end_date: str = typer.Option(DEFAULT_END_DATE.isoformat(), "--end-date", help="Day after the last sale."),
    to: str | None = typer.Option(
        None,
        "--to",
        help="SQLAlchemy URL (sqlite:///…, postgresql+psycopg://…, mysql+pymysql://…) or file:///folder. "
        "Default: the demo client's upload area, where environments/demo-dev.yaml reads it "
        "($B2BREC_HOME/clients/client-demo-wholesale-dev/buckets/client-demo-wholesale-dev-data/uploads/demo-erp.sqlite)",
    ),
    file_format: str | None = typer.Option(None, "--format", help=f"For file:// targets: {' or '.join(FILE_FORMATS)}."),
    no_replace: bool = typer.Option(False, "--no-replace", help="Fail instead of replacing existing tables/files."),
    realistic: bool = typer.Option(
        False,
        "--realistic",
        help="Invoice lines as a real ERP exports them: lines without a customer, cancellations (C invoices), "
        "returns, postage and fee lines, unit prices instead of revenue (docs/datagen.md).",
    ),
) -> None:
    """Generate customers, products and sales lines into a database or folder."""
    end = _end_date(end_date)
    cfg = GeneratorConfig(
        transactions=transactions,
        customers=customers,
        products=products,
        seed=seed,
        end_date=end,
        days=days,
        mode="realistic" if realistic else "demo",
    )
    if to is None:
        settings = load_settings()
        environment, source_file = (
            (REALISTIC_ENVIRONMENT, REALISTIC_SOURCE_FILE) if realistic else (DEMO_ENVIRONMENT, DEMO_SOURCE_FILE)
        )
        uploads = upload_area(load_environment(settings.environments_dir, environment), settings)
        uploads.mkdir(parents=True, exist_ok=True)
        to = f"sqlite:///{uploads / source_file}"
    parse_target(to, file_format)  # fail on a bad URL before drawing a progress bar
    with Progress(
        TextColumn("[bold]generating sales"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task("sales", total=cfg.transactions)
        summary = generate(
            cfg,
            to,
            replace=not no_replace,
            file_format=file_format,
            progress=lambda done, _total: bar.update(task, completed=done),
        )
    table = Table("", "", title="generated", show_header=False)
    table.add_row("target", summary.target)
    table.add_row("customers", f"{summary.customers:,}")
    table.add_row("products", f"{summary.products:,}")
    table.add_row("sales lines", f"{summary.transactions:,}")
    table.add_row("first sale", f"{summary.first_sale:%Y-%m-%d %H:%M}")
    table.add_row("last sale", f"{summary.last_sale:%Y-%m-%d %H:%M}")
    table.add_row("seed", str(cfg.seed))
    table.add_row("mode", cfg.mode)
    table.add_row("took", f"{summary.seconds:.1f} s ({summary.rows_per_second:,.0f} lines/s)")
    console.print(table)


@app.command("append-changes")
@user_errors
def append_changes_cmd(
    to: str = typer.Option(..., "--to", help="Database generated by `b2brec data generate`."),
    transactions: int = typer.Option(
        100_000,
        "--transactions",
        "-n",
        callback=_transactions,
        help="The --transactions the database was generated with.",
    ),
    customers: int | None = typer.Option(None, "--customers", help="The --customers it was generated with."),
    products: int | None = typer.Option(None, "--products", help="The --products it was generated with."),
    seed: int = typer.Option(42, "--seed", help="The --seed it was generated with."),
    days: int = typer.Option(365, "--days", help="The --days it was generated with."),
    end_date: str = typer.Option(DEFAULT_END_DATE.isoformat(), "--end-date", help="The --end-date used."),
    new: int = typer.Option(500, "--new", help="New sales lines to add after the last sale."),
    updated: int = typer.Option(200, "--updated", help="Existing lines whose quantity gets corrected."),
    day_seed: int = typer.Option(7, "--day-seed", help="Seed of this simulated day of changes."),
) -> None:
    """Simulate a day of ERP activity (new and corrected lines) for incremental-load tests."""
    cfg = GeneratorConfig(
        transactions=transactions,
        customers=customers,
        products=products,
        seed=seed,
        end_date=_end_date(end_date),
        days=days,
    )
    result = append_changes(to, cfg, new_transactions=new, updated_transactions=updated, seed=day_seed)
    table = Table("", "", title="changes", show_header=False)
    table.add_row(
        "new lines",
        f"{len(result.new_ids):,}" + (f" (ids {result.new_ids[0]}..{result.new_ids[-1]})" if result.new_ids else ""),
    )
    table.add_row("updated lines", f"{len(result.updated_ids):,}")
    table.add_row("max updated_at", f"{result.max_updated_at:%Y-%m-%d %H:%M:%S}")
    console.print(table)
