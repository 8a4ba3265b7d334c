"""Finished runs and their metrics on the time-split test set (model and baselines), for comparison.

Each run's metrics come from its pipeline record (the train stage's outputs, also logged to the
client's MLflow); the page links to MLflow for everything else.
"""

from __future__ import annotations

import re
from typing import Any

from client_app.client import current_client
from client_app.errors import AppError
from trainer import runs
from trainer.run_context import context_for
from trainer.runs import RunRecord, RunStatus

_RECALL = re.compile(r"^all/recall@(\d+)$")


def _context() -> Any:
    return context_for(current_client().context)  # reading runs starts nothing


def _summary(record: RunRecord) -> dict[str, Any] | None:
    outputs = record.stage("train").outputs or {}
    if record.status is not RunStatus.SUCCEEDED or not outputs.get("metrics"):
        return None
    return {
        "run_id": record.run_id,
        "created_at": record.created_at,
        "options": record.options,
        "metrics": outputs["metrics"],
        "baselines": outputs.get("baselines", {}),
    }


def finished_runs() -> list[dict[str, Any]]:
    """Succeeded runs, newest first: run id, created, options, model metrics and baselines."""
    found = [s for record in runs.list_runs(_context()) if (s := _summary(record)) is not None]
    return sorted(found, key=lambda r: r["created_at"], reverse=True)


def finished_run(run_id: str) -> dict[str, Any] | None:
    """One finished run (None when there is no such run, or it did not finish)."""
    ctx = _context()
    if not ctx.data.exists(runs.state_key(run_id)):
        return None
    return _summary(runs.load_run(ctx, run_id))


def recall_ks(metrics: dict[str, float]) -> list[int]:
    return sorted(int(m.group(1)) for key in metrics if (m := _RECALL.match(key)))


def compare(run_ids: list[str]) -> dict[str, Any]:
    """The chosen runs (2 or more) and the baselines of the newest of them, on Recall@k."""
    by_id = {r["run_id"]: r for r in finished_runs()}
    unknown = [r for r in run_ids if r not in by_id]
    if unknown:
        raise AppError(
            f"unknown or unfinished run(s): {', '.join(u[:40] for u in unknown)}",
            code="not_found",
            fix="pick finished runs from the list",
        )
    if len(run_ids) < 2:
        raise AppError("pick at least two runs to compare", fix="tick two or more runs")
    chosen = [by_id[r] for r in run_ids]
    ks = recall_ks(chosen[0]["metrics"])
    series = {f"run {r['run_id']}": [float(r["metrics"].get(f"all/recall@{k}", 0.0)) for k in ks] for r in chosen}
    newest = max(chosen, key=lambda r: r["created_at"])
    for name, values in sorted(newest["baselines"].items()):
        series[f"baseline {name}"] = [float(values.get(f"all/recall@{k}", 0.0)) for k in ks]
    return {"runs": chosen, "ks": ks, "series": series}
