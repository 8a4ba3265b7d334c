"""``b2brec evaluate``: would the model have predicted what customers bought after a date?

Trains the served model and every baseline on the client's sales strictly before ``--cutoff`` and
scores them on the ``--test-days`` days from the cutoff (the test period). Nothing is registered or
deployed, and no model sees the test period. The work is ``trainer.backtest.run_backtest``; this
module parses the options and renders its events and result.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from b2brec.progress import ProgressEvent
from cli.common import console, load_settings, user_errors
from trainer.backtest import EPOCHS, TEST_DAYS

CUTOFF_HELP = (
    "First day of the test period (YYYY-MM-DD, UTC). Models train on every sale strictly BEFORE this day "
    "and are scored on the sales from this day for --test-days days; the served model never sees them."
)


def _parse_cutoff(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-10-01") from None


@user_errors
def evaluate(
    client: str = typer.Option(..., "--client", help="Project id, client id or environment name, e.g. demo-dev."),
    cutoff: str = typer.Option(..., "--cutoff", help=CUTOFF_HELP),
    test_days: int = typer.Option(TEST_DAYS, "--test-days", min=1, max=365, help="Length of the test period in days."),
    epochs: int = typer.Option(EPOCHS, "--epochs", min=1, max=100, help="Upper bound of two-tower epochs."),
    no_two_tower: bool = typer.Option(False, "--no-two-tower", help="Rank without the two-tower (faster)."),
    output: Path | None = typer.Option(None, "--output", help="Also write the results as JSON here."),
) -> None:
    """Train on sales before --cutoff, print the served model and every baseline on the next --test-days days."""
    moment = _parse_cutoff(cutoff)
    from b2brec.context import client_context
    from trainer.backtest import run_backtest

    ctx = client_context(client, load_settings())
    with console.status("reading sales from the warehouse") as status:

        def show(event: ProgressEvent) -> None:
            if event.message and event.kind in ("start", "advance"):
                status.update(event.message)

        result = run_backtest(
            ctx, moment, test_days=test_days, epochs=epochs, two_tower=not no_two_tower, on_event=show
        )
    _print(result.comparison, moment, result.end, test_days)
    if output is not None:
        output.write_text(json.dumps(result.to_dict(), indent=2))
        console.print(f"results written to {output}")


def _print(result: Any, moment: date, end: date, test_days: int) -> None:
    info = result.info
    console.print(
        f"trained on {info['train_rows']:,} sales before {moment}; tested on {info['test_rows']:,} sales "
        f"{moment} .. {end - timedelta(days=1)} ({test_days} days): {info['customers']:,} customers with "
        f"history, {info['catalog']:,} products, {info['repeat_share']:.0%} of test pairs are re-orders"
    )
    for view, title in (("all", "re-orders count"), ("new", "bought-before excluded")):
        table = Table(title=f"Recall and NDCG, {title}")
        for column in ("method", "Recall@5", "Recall@10", "Recall@50", "Recall@100", "NDCG@10", "coverage@10"):
            table.add_column(column, justify="left" if column == "method" else "right")
        for name, metrics in result.rows.items():
            keys = ("recall@5", "recall@10", "recall@50", "recall@100", "ndcg@10", "coverage@10")
            table.add_row(name, *(f"{metrics[f'{view}/{k}']:.4f}" for k in keys))
        console.print(table)
    colour = "red" if result.quality.loses_to_baseline else "green"
    console.print(f"[{colour}]{result.quality.summary}[/{colour}]")
