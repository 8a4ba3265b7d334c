"""``b2brec evaluate``: would the model have predicted what customers bought after a date?

Trains the served model and every baseline on the client's sales strictly before ``--cutoff`` and
scores them on the ``--test-days`` days from the cutoff (the test period). Nothing is registered or
deployed, and no model sees the test period.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cli.common import console, err_console, load_settings, user_errors

CUTOFF_HELP = (
    "First day of the test period (YYYY-MM-DD, UTC). Models train on every sale strictly BEFORE this day "
    "and are scored on the sales from this day for --test-days days; the served model never sees them."
)
HISTORY_DAYS = 3650
"""How far back the evaluation reads (all of a client's history in practice; time decay, not a
window, discounts old sales)."""


def _parse_cutoff(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-10-01") from None


@user_errors
def evaluate(
    client: str = typer.Option(..., "--client", help="Project id, client id or environment name, e.g. demo-dev."),
    cutoff: str = typer.Option(..., "--cutoff", help=CUTOFF_HELP),
    test_days: int = typer.Option(30, "--test-days", min=1, max=365, help="Length of the test period in days."),
    epochs: int = typer.Option(5, "--epochs", min=1, max=100, help="Upper bound of two-tower epochs."),
    no_two_tower: bool = typer.Option(False, "--no-two-tower", help="Rank without the two-tower (faster)."),
    output: Path | None = typer.Option(None, "--output", help="Also write the results as JSON here."),
) -> None:
    """Train on sales before --cutoff, print the served model and every baseline on the next --test-days days."""
    moment = _parse_cutoff(cutoff)
    from b2brec.context import client_context
    from trainer.extractor.run import run as extract

    client_ctx = client_context(client, load_settings())
    end = moment + timedelta(days=test_days)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = (Path(tmp) / "dataset").as_uri()
        with console.status("reading sales from the warehouse"):
            extract(
                [
                    "--warehouse",
                    client_ctx.backends.warehouse_uri,
                    "--output",
                    dataset,
                    "--cutoff",
                    end.isoformat(),
                    "--window-days",
                    str(HISTORY_DAYS),
                    "--test-days",
                    str(test_days),
                    "--revenue-coverage",
                    "1.0",
                ]
            )
            from trainer.data import load_split, read_metadata

            metadata = read_metadata(dataset)
            train, test = load_split(dataset, "train", metadata), load_split(dataset, "test", metadata)
    result = _compare(train, test, moment, metadata["features"], epochs, no_two_tower)
    _print(result, moment, end, test_days)
    if output is not None:
        output.write_text(json.dumps(_jsonable(result, moment, test_days), indent=2))
        console.print(f"results written to {output}")


def _compare(train: Any, test: Any, moment: date, features: list[str], epochs: int, no_two_tower: bool) -> Any:
    from trainer.experiment import compare
    from trainer.fit import TrainConfig
    from trainer.model.hybrid import HybridConfig

    if test.empty:
        err_console.print(
            f"[red]error:[/red] no sales from {moment} in the test period; choose an earlier --cutoff "
            "(the test period must lie inside the data)"
        )
        raise typer.Exit(2)
    test_days = max(1, int((test["timestamp"].max() - test["timestamp"].min()) // 86400) + 1)
    config = HybridConfig(
        train_config=TrainConfig(epochs=epochs), validation_days=min(30, test_days), two_tower=not no_two_tower
    )
    start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC).timestamp()
    with console.status("training and scoring") as status:
        return compare(train, test, start, features, config, on_step=lambda s: status.update(s))


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


def _jsonable(result: Any, moment: date, test_days: int) -> dict[str, Any]:
    return {
        "cutoff": moment.isoformat(),
        "test_days": test_days,
        "info": {k: v for k, v in result.info.items() if isinstance(v, (int, float, str, dict))},
        "rows": result.rows,
        "quality": result.quality.to_dict(),
    }
