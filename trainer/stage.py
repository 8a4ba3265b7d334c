"""What every stage entrypoint shares: logging, and reporting a user error as one line the
pipeline reads back as the failed stage's reason (``STAGE_ERROR: ...``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from b2brec.errors import B2BRecError

STAGE_ERROR = "STAGE_ERROR:"
log = logging.getLogger(__name__)


def stage_main(name: str, run: Callable[[list[str] | None], Any], argv: list[str] | None = None) -> int:
    """Run one stage's ``run(argv)``: 0 on success, 2 with the reason printed on an error a user reads
    (a ``PipelineError``, or a core error such as a warehouse URI that names no warehouse)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(argv)
    except B2BRecError as exc:
        log.error("%s failed (%s): %s", name, exc.code, exc.message)
        print(f"{STAGE_ERROR} {exc.message}", flush=True)
        return 2
    return 0


def stage_reason(output: str) -> str:
    """The stage's own one-line error when it printed one, else the tail of its output."""
    lines = [line for line in output.splitlines() if line.startswith(STAGE_ERROR)]
    return lines[-1].removeprefix(STAGE_ERROR).strip() if lines else (output.strip()[-2000:] or "job failed")
