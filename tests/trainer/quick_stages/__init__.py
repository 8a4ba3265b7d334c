"""Stage entrypoints that take the real stages' arguments but only log, sleep and exit: they let the
run-driver tests exercise the run store, the job runner and crashes in seconds, not minutes.
(The real stages run through the same driver in tests/trainer/test_pipeline_e2e.py.)

Environment: ``QUICK_STAGE_DIR`` (log folder), ``QUICK_STAGE_SLEEP`` (seconds each stage takes),
``QUICK_STAGE_FAIL`` (a stage that fails until ``{QUICK_STAGE_DIR}/fixed`` exists)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(stage: str) -> None:
    folder = Path(os.environ["QUICK_STAGE_DIR"])
    with open(folder / "log", "a") as log:
        log.write(f"{stage} {os.getpid()} {' '.join(sys.argv[1:])}\n")
    time.sleep(float(os.environ.get("QUICK_STAGE_SLEEP", "0")))
    if os.environ.get("QUICK_STAGE_FAIL") == stage and not (folder / "fixed").exists():
        print(f"STAGE_ERROR: {stage} found no usable rows (quick stage told to fail)", flush=True)
        sys.exit(2)
