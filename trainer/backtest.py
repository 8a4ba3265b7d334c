"""Backtest: would the served model have predicted what customers bought after a date?

Extracts the client's sales into a throwaway dataset, trains the served model and every baseline on
the sales strictly before ``cutoff`` and scores them on the ``test_days`` days from it (the test
period). Nothing is registered or deployed, and no model sees the test period. ``b2brec evaluate``
renders the result; an app or a worker task can call :func:`run_backtest` the same way::

    result = run_backtest(client_context("demo-dev"), date(2026, 6, 20), test_days=10, on_event=print)
    result.comparison.quality.summary
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from b2brec.progress import OnEvent, emit
from trainer.errors import DataError

if TYPE_CHECKING:  # the CLI imports this module for its defaults: keep it light
    from b2brec.context import ClientContext
    from trainer.experiment import Comparison

HISTORY_DAYS = 3650
"""How far back the backtest reads (all of a client's history in practice; time decay, not a
window, discounts old sales)."""
TEST_DAYS = 30
"""Default length of the test period."""
EPOCHS = 5
"""Default upper bound of the two-tower's epochs (early stopping usually ends sooner)."""
MAX_VALIDATION_DAYS = 30
"""The ranker learns from at most this many days before the cutoff (fewer when the test period is shorter)."""


@dataclass(frozen=True)
class Backtest:
    """The model and every baseline on one time split."""

    cutoff: date
    test_days: int
    comparison: Comparison

    @property
    def end(self) -> date:
        """The first day after the test period."""
        return self.cutoff + timedelta(days=self.test_days)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe view: the split, the data it saw, every method's metrics and the verdict."""
        info = self.comparison.info
        return {
            "cutoff": self.cutoff.isoformat(),
            "test_days": self.test_days,
            "info": {k: v for k, v in info.items() if isinstance(v, (int, float, str, dict))},
            "rows": self.comparison.rows,
            "quality": self.comparison.quality.to_dict(),
        }


def run_backtest(
    ctx: ClientContext,
    cutoff: date,
    *,
    test_days: int = TEST_DAYS,
    epochs: int = EPOCHS,
    two_tower: bool = True,
    on_event: OnEvent | None = None,
) -> Backtest:
    """Train on the client's sales before ``cutoff`` and score on the ``test_days`` days from it.

    Events: ``extract`` (reading the warehouse), then ``compare`` (one ``advance`` per model fitted or
    scored). Raises ``DataError`` (invalid_data) when the test period holds no sales."""
    if test_days < 1:
        raise DataError(f"the test period must be at least one day, not {test_days}")
    end = cutoff + timedelta(days=test_days)
    emit(on_event, "extract", "start", message="reading sales from the warehouse")
    with tempfile.TemporaryDirectory() as tmp:
        train, test, features = _extract(ctx, Path(tmp) / "dataset", end, test_days)
    emit(on_event, "extract", "done", message=f"{len(train):,} sales before, {len(test):,} in the test period")
    if test.empty:
        raise DataError(
            f"no sales from {cutoff} in the test period; choose an earlier cutoff (the test period must lie inside "
            "the data)"
        )
    comparison = _compare(train, test, cutoff, features, epochs, two_tower, on_event)
    return Backtest(cutoff=cutoff, test_days=test_days, comparison=comparison)


def _extract(ctx: ClientContext, folder: Path, end: date, test_days: int) -> tuple[Any, Any, list[str]]:
    """The extract stage's dataset of the ``HISTORY_DAYS`` before ``end``, read into memory."""
    from trainer.data import load_split, read_metadata
    from trainer.extractor.run import run as extract

    dataset = folder.as_uri()
    extract(
        [
            "--warehouse",
            ctx.backends.warehouse_uri,
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
    metadata = read_metadata(dataset)
    train, test = load_split(dataset, "train", metadata), load_split(dataset, "test", metadata)
    return train, test, list(metadata["features"])


def _compare(
    train: Any, test: Any, cutoff: date, features: list[str], epochs: int, two_tower: bool, on_event: OnEvent | None
) -> Comparison:
    from trainer.experiment import compare
    from trainer.fit import TrainConfig
    from trainer.model.hybrid import HybridConfig

    seen_days = max(1, int((test["timestamp"].max() - test["timestamp"].min()) // 86400) + 1)
    config = HybridConfig(
        train_config=TrainConfig(epochs=epochs),
        validation_days=min(MAX_VALIDATION_DAYS, seen_days),
        two_tower=two_tower,
    )
    start = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC).timestamp()
    steps = 0

    def step(message: str) -> None:
        nonlocal steps
        steps += 1
        emit(on_event, "compare", "advance", done=steps, message=message)

    emit(on_event, "compare", "start", message="training and scoring")
    comparison = compare(train, test, start, features, config, on_step=step)
    emit(on_event, "compare", "done", done=steps, message=comparison.quality.summary)
    return comparison
