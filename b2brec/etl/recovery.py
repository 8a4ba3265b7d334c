"""Recover from a killed ETL run before extracting anything new.

A killed run can leave one dlt load package behind. Two cases:

* **Loading had not started** (the package is extracted, or normalized with no job started):
  finishing it is safe, so it is normalized and loaded as if the run had never stopped.
* **Loading had started** (or a recovery's abort of it was cut short): finishing is *not* safe.
  dlt re-runs every job not yet recorded as done, but it truncates the staging tables only once
  per package, so a job whose rows reached staging just before the kill would be copied twice
  (duplicate keys after the merge; see dlt-hub/dlt#3023). The package is aborted instead: dlt
  rewinds the pipeline state (the incremental watermarks) to where the package started, and the
  next extraction re-reads those rows from the source; the merge on the primary key stores each
  once.

A killed **full refresh** needs one more thing, on every backend: its load may already have
dropped the tables while the watermarks the next run starts from (dlt keeps them locally, and
on GCP restores them from the last *completed* load in the warehouse) are the old ones, so an
incremental run would skip every row before them. So a full refresh writes its tables to a
ledger in the client's ``data`` bucket *before* it starts, and clears them when it succeeds; any
run that finds tables still owed reloads them in full (the ledger outlives the scratch disk of
a Cloud Run job, and further crashes).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from b2brec.backends.storage import ObjectStore

log = logging.getLogger(__name__)

LEDGER_KEY = "etl/refresh-required.json"
STARTED_JOB_STATES = ("started_jobs", "completed_jobs", "failed_jobs")
# dlt's FileStorage.save_atomic writes to ``uniq_id(8)`` (16 lowercase hex digits, no extension)
# before renaming; every file dlt keeps has an extension or a dotted load id.
_ATOMIC_WRITE_LEFTOVER = re.compile(r"[0-9a-f]{16}")


class RefreshLedger:
    """Tables whose full refresh was started and has not finished (see the module docstring)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def _read(self) -> set[str] | None:
        """The tables owed; None when the ledger is unreadable (a local write cut short)."""
        if not self.store.exists(LEDGER_KEY):
            return set()
        try:
            return set(json.loads(self.store.read_text(LEDGER_KEY)))
        except (ValueError, TypeError):
            log.warning("the ETL refresh ledger %s is unreadable", self.store.url(LEDGER_KEY))
            return None

    def owed(self, tables: set[str]) -> set[str]:
        """Which of ``tables`` must be reloaded in full; all of them if the ledger is unreadable
        (a needless reload is better than lost rows)."""
        owed = self._read()
        return set(tables) if owed is None else owed & tables

    def begin(self, tables: set[str]) -> None:
        """Record ``tables`` as owed, before their full refresh touches the warehouse."""
        self.store.write_text(LEDGER_KEY, json.dumps(sorted((self._read() or set()) | tables)))

    def done(self, tables: set[str]) -> None:
        """Their full refresh succeeded: clear them."""
        remaining = (self._read() or set()) - tables
        if remaining:
            self.store.write_text(LEDGER_KEY, json.dumps(sorted(remaining)))
        elif self.store.exists(LEDGER_KEY):
            self.store.delete(LEDGER_KEY)


def sweep_interrupted_writes(pipeline_dir: Path) -> list[Path]:
    """Remove the temporary files of atomic writes a killed run left in ``pipeline_dir`` (dlt's
    working folder of one pipeline); returns what was removed."""
    if not pipeline_dir.is_dir():
        return []
    removed = []
    for path in pipeline_dir.rglob("*"):
        if path.is_file() and _ATOMIC_WRITE_LEFTOVER.fullmatch(path.name):
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.warning("removed %d file(s) a killed run left half-written in %s", len(removed), pipeline_dir)
    return removed


def _loading_started(pipeline: Any, load_id: str) -> bool:
    jobs = pipeline.get_load_package_info(load_id).jobs
    return any(jobs.get(state) for state in STARTED_JOB_STATES)


def _abort_requested(pipeline: Any, load_id: str) -> bool:
    return bool(pipeline.get_load_package_state(load_id).get("abort_requested"))


def recover_interrupted(pipeline: Any) -> None:
    """Finish or abort what a killed run left behind (see the module docstring)."""
    normalized = list(pipeline.list_normalized_load_packages())
    # Not ``pipeline.has_pending_data``: it does not count a package flagged for abort, and an
    # abort killed after setting the flag leaves exactly that. dlt finishes such an abort in the
    # next load() -- ours, after this run's extraction -- and its clean-up then deletes every newer
    # package (this run's) and rewinds the state, while load() returns as if it had loaded: a full
    # refresh would clear its ledger with its tables dropped and nothing reloaded.
    if not normalized and not pipeline.list_extracted_load_packages():
        return
    if any(_abort_requested(pipeline, load_id) or _loading_started(pipeline, load_id) for load_id in normalized):
        log.warning("a killed run had started loading; aborting its package and re-extracting its rows")
        pipeline.abort_packages()
        return
    log.info("finishing an interrupted load of %s", pipeline.pipeline_name)
    try:
        pipeline.normalize()
        pipeline.load()
    except Exception as exc:  # dlt wraps the cause in PipelineStepFailed
        cause = exc.__cause__ or exc
        # e.g. a process killed while writing a file left it truncated
        log.warning("an interrupted load could not be finished (%s); re-extracting it", type(cause).__name__)
        pipeline.abort_packages()
