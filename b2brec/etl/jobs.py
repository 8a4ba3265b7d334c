"""Launch an ETL run as a job through the client's job interface (``ClientBackends.etl_jobs``):
a subprocess locally, an execution of the client's Cloud Run ETL job on GCP. The job runs
``python -m b2brec.etl`` with the client's spec in ``B2BREC_CLIENT_SPEC`` either way. The client
app's worker (``client_app.etl.services.execute``) and the control plane's first load
(``b2brec.backends.client_admin``) submit and poll ETL runs this way, like pipeline stages.

A run submitted with a ``run_id`` reports to the client's data bucket, which every backend can read
back: its latest progress event (``etl-runs/{run_id}/progress.json``), then its outcome
(``outcome.json``: the load summary, or the error's code, message and fix)::

    run_id = new_run_id()
    job_id = submit_etl(backends.etl_jobs, spec, run_id=run_id)
    ...  # poll backends.etl_jobs.status(job_id); read_progress(backends.storage("data"), run_id)
    outcome = read_outcome(backends.storage("data"), run_id)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from b2brec.backends.jobs import JobRunner, JobSpec, MachineSpec
from b2brec.backends.storage import ObjectStore
from b2brec.errors import B2BRecError
from b2brec.etl.history import LoadSummary
from b2brec.progress import ProgressEvent
from b2brec.spec import SPEC_ENV, ClientSpec

ETL_MODULE = "b2brec.etl"
REPORT_PREFIX = "etl-runs"
PROGRESS_EVERY_S = 1.0
"""A running job writes its latest progress event at most this often (plus every start, done and error)."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def etl_job_spec(
    spec: ClientSpec,
    *,
    full_refresh: bool = False,
    tables: Sequence[str] = (),
    run_id: str | None = None,
    machine: MachineSpec | None = None,
) -> JobSpec:
    args = (["--full-refresh"] if full_refresh else []) + [a for t in tables for a in ("--table", t)]
    args += ["--run-id", run_id] if run_id else []
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return JobSpec(
        name=f"etl-{run_id}" if run_id else f"etl-{stamp}",
        module=ETL_MODULE,
        args=tuple(args),
        env={SPEC_ENV: spec.model_dump_json()},
        machine=machine or MachineSpec(),
    )


def submit_etl(
    jobs: JobRunner,
    spec: ClientSpec,
    *,
    full_refresh: bool = False,
    tables: Sequence[str] = (),
    run_id: str | None = None,
    machine: MachineSpec | None = None,
) -> str:
    """Start one ETL run; returns its job id (poll it with ``jobs.status``). With ``run_id`` the job
    reports its progress and outcome under ``etl-runs/{run_id}/`` of the data bucket."""
    return jobs.submit(etl_job_spec(spec, full_refresh=full_refresh, tables=tables, run_id=run_id, machine=machine))


def _key(run_id: str, name: str) -> str:
    if not run_id.isalnum():
        raise ValueError(f"ETL run id {run_id!r} must be letters and digits")
    return f"{REPORT_PREFIX}/{run_id}/{name}"


class RunReport:
    """What a running ETL job writes for whoever submitted it (the job side of ``read_progress``)."""

    def __init__(self, store: ObjectStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self._last = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.kind == "advance" and now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        self.store.write_text(_key(self.run_id, "progress.json"), json.dumps(event.as_dict(), default=str))

    def succeeded(self, summary: LoadSummary) -> None:
        outcome = {"status": "succeeded", "summary": asdict(summary), "rows_read": summary.rows_read}
        outcome["rows_written"] = summary.rows_written
        outcome["duration_seconds"] = summary.duration_seconds
        self.store.write_text(_key(self.run_id, "outcome.json"), json.dumps(outcome, default=str))

    def failed(self, error: B2BRecError) -> None:
        outcome = {"status": "failed", "code": error.code, "message": error.message, "fix": error.fix}
        self.store.write_text(_key(self.run_id, "outcome.json"), json.dumps(outcome))


def read_progress(store: ObjectStore, run_id: str) -> ProgressEvent | None:
    """The latest progress event the job of ``run_id`` reported, if any yet."""
    key = _key(run_id, "progress.json")
    if not store.exists(key):
        return None
    data = json.loads(store.read_text(key))
    return ProgressEvent(**data)


def read_outcome(store: ObjectStore, run_id: str) -> dict[str, Any] | None:
    """How the job of ``run_id`` ended (``status`` succeeded with ``summary``, or failed with ``code``,
    ``message``, ``fix``), or None while it runs or if it died before saying."""
    key = _key(run_id, "outcome.json")
    return json.loads(store.read_text(key)) if store.exists(key) else None
