"""A Celery-style worker for the run-driver tests: it only calls ``advance`` (and sleeps), as a
periodic task would. Usage: ``python -m tests.trainer.run_driver HOME CLIENT RUN_ID LOG_DIR|MLFLOW_URL``
(a log folder: the quick stand-in stages; an MLflow URL: the real stages)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from b2brec.context import client_context
from b2brec.settings import Settings
from tests.conftest import REPO_ROOT
from trainer.run_context import PipelineContext, context_for
from trainer.runs import advance

QUICK_MODULES = {s: f"tests.trainer.quick_stages.{s}" for s in ("extract", "vocab", "train", "register")}


def quick_context(settings: Settings, client: str, log_dir: Path, **env: str) -> PipelineContext:
    """The client's real stores and job runner, with the quick stage entrypoints."""
    ctx = context_for(client_context(client, settings), mlflow_uri="http://127.0.0.1:9")
    return PipelineContext(
        **{
            **{f: getattr(ctx, f) for f in ("client", "warehouse_uri", "data", "models", "jobs", "mlflow_uri")},
            "env": {**ctx.env, "QUICK_STAGE_DIR": str(log_dir), "PYTHONPATH": str(REPO_ROOT), **env},
            "stage_modules": QUICK_MODULES,
            "claim_lease": 5.0,
        }
    )


def main(argv: list[str]) -> int:
    home, client, run_id, where = argv
    settings = Settings(home=Path(home), environments_dir=REPO_ROOT / "environments")
    if where.startswith("http://"):  # the real stages, with this MLflow server
        ctx = context_for(client_context(client, settings), mlflow_uri=where)
    else:
        ctx = quick_context(settings, client, Path(where), QUICK_STAGE_SLEEP="1.5")
    while True:
        record = advance(ctx, run_id)
        print(record.status.value, [s.status.value for s in record.stages], flush=True)
        if record.status.done:
            return 0
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
