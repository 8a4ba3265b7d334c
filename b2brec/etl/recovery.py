"""Recover from a killed ETL run before extracting anything new.

A killed run can leave one dlt load package behind. Two cases:

* **Loading had not started** (the package is extracted, or normalized with no job started):
  finishing it is safe, so it is normalized and loaded as if the run had never stopped.
* **Loading had started**: finishing is *not* safe. dlt re-runs every job not yet recorded as
  done, but it truncates the staging tables only once per package, so a job whose rows reached
  staging just before the kill would be copied twice (duplicate keys after the merge; see
  dlt-hub/dlt#3023). The package is aborted instead: dlt rewinds the pipeline state (the
  incremental watermarks) to where the package started, and the next extraction re-reads
  those rows from the source; the merge on the primary key stores each once.

Aborting a package that was a full refresh is the one case where rewinding is not enough: its
load may already have dropped the tables, and the rewound watermarks would then skip rows.
Those tables are written to a marker file and reloaded in full by the next run that loads
them (the marker survives further crashes; it is cleared once such a load succeeds).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REFRESH_MARKER = "refresh-required.json"
STARTED_JOB_STATES = ("started_jobs", "completed_jobs", "failed_jobs")


def _marker(pipelines_dir: Path) -> Path:
    return pipelines_dir / REFRESH_MARKER


def tables_needing_refresh(pipelines_dir: Path) -> set[str]:
    path = _marker(pipelines_dir)
    return set(json.loads(path.read_text())) if path.is_file() else set()


def _write_marker(pipelines_dir: Path, tables: set[str]) -> None:
    path = _marker(pipelines_dir)
    if not tables:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted(tables)))
    tmp.replace(path)  # atomic: a crash leaves the old marker or the new one


def refreshed(pipelines_dir: Path, tables: set[str]) -> None:
    """Clear ``tables`` from the marker after a full refresh of them succeeded."""
    _write_marker(pipelines_dir, tables_needing_refresh(pipelines_dir) - tables)


def _loading_started(pipeline: Any, load_id: str) -> bool:
    jobs = pipeline.get_load_package_info(load_id).jobs
    return any(jobs.get(state) for state in STARTED_JOB_STATES)


def _dropped_by(pipeline: Any, load_id: str) -> set[str]:
    """Tables a full-refresh package drops or truncates when it loads."""
    state = pipeline.get_load_package_state(load_id)
    return {table["name"] for key in ("dropped_tables", "truncated_tables") for table in state.get(key, [])}


def _abort(pipeline: Any, pipelines_dir: Path, normalized: list[str]) -> None:
    dropped = set().union(*(_dropped_by(pipeline, load_id) for load_id in normalized)) if normalized else set()
    if dropped:
        # Written before the abort: if this process dies during it, the next run still reloads them.
        _write_marker(pipelines_dir, tables_needing_refresh(pipelines_dir) | dropped)
    pipeline.abort_packages()
    if dropped:
        names = ", ".join(sorted(dropped))
        log.warning("an interrupted full refresh was aborted; the next load reloads %s in full", names)


def recover_interrupted(pipeline: Any, pipelines_dir: Path) -> None:
    """Finish or abort what a killed run left behind (see the module docstring)."""
    if not pipeline.has_pending_data:
        return
    normalized = list(pipeline.list_normalized_load_packages())
    if any(_loading_started(pipeline, load_id) for load_id in normalized):
        log.warning("a killed run had started loading; aborting its package and re-extracting its rows")
        _abort(pipeline, pipelines_dir, normalized)
        return
    log.info("finishing an interrupted load of %s", pipeline.pipeline_name)
    try:
        pipeline.normalize()
        pipeline.load()
    except Exception as exc:  # dlt wraps the cause in PipelineStepFailed
        cause = exc.__cause__ or exc
        # e.g. a process killed while writing a file left it truncated
        log.warning("an interrupted load could not be finished (%s); re-extracting it", type(cause).__name__)
        _abort(pipeline, pipelines_dir, list(pipeline.list_normalized_load_packages()))
