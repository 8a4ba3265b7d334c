"""Pipeline runs a worker can drive: each call is short and safe to repeat from any process.

``start_run`` records a new run; ``advance`` moves it on by submitting the next stage's job or
recording a finished one; ``poll`` reads it (with the live state of its running job); ``cancel``
and ``resume`` stop and restart it. A Celery task, a web request or the CLI's blocking
``run_pipeline`` all call these; any of them may crash at any point and another picks up.

The one copy of a run is ``runs/{run_id}/state.json`` in the client's data bucket, changed only by
compare-and-swap (``b2brec.backends.versioned``): a writer that lost a race reloads and decides
again. Submitting a job is made crash-safe in two steps: a driver first *claims* the stage
(status ``submitting``, a job name unique to the attempt), then submits, then records the job id.
A driver that finds a stage still ``submitting`` asks the job runner for a job of that name (the
first driver may have died after submitting) and adopts it; if there is none and the claim is
older than ``ctx.claim_lease``, the stage is claimed again.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from typing import Any

from b2brec.backends.jobs import JobSpec, JobState, JobStatus
from b2brec.backends.versioned import VersionConflict, VersionedStore, versioned
from b2brec.context import ClientContext
from trainer import STAGES
from trainer.errors import PipelineError
from trainer.run_context import PipelineContext, RunOptions, context_for, stage_args, stage_outputs
from trainer.run_records import (
    JobRecord,
    RunRecord,
    RunStatus,
    StageRecord,
    StageStatus,
    check_run_id,
    now,
)
from trainer.stage import stage_reason

__all__ = [
    "JobRecord",
    "RunRecord",
    "RunStatus",
    "StageRecord",
    "StageStatus",
    "advance",
    "cancel",
    "list_runs",
    "load_run",
    "metered_jobs",
    "poll",
    "resume",
    "start_run",
]

_RETRIES = 20


Context = PipelineContext | ClientContext
"""Every operation takes the client's context (``b2brec.context.client_context``) or a
``PipelineContext`` built from one (``context_for``; tests and the blocking runner)."""


def pipeline_context(ctx: Context) -> PipelineContext:
    """A ``PipelineContext`` from either itself or a client context."""
    if isinstance(ctx, PipelineContext):
        return ctx
    return context_for(ctx)


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def state_key(run_id: str) -> str:
    return f"runs/{run_id}/state.json"


def _store(ctx: PipelineContext) -> VersionedStore:
    return versioned(ctx.data)


def load_run(ctx: Context, run_id: str) -> RunRecord:
    """The stored run (raises a PipelineError naming the known runs when there is none)."""
    pctx = pipeline_context(ctx)
    found = _store(pctx).read(state_key(check_run_id(run_id)))
    if found is None:
        known = sorted(r.run_id for r in list_runs(pctx))
        raise PipelineError(
            f"no pipeline run {run_id!r} (known: {', '.join(known[-5:]) or 'none'})", code="run_not_found"
        )
    return RunRecord.from_dict(json.loads(found.data), generation=found.generation)


def list_runs(ctx: Context) -> list[RunRecord]:
    """Every run of the client, oldest first."""
    store = _store(pipeline_context(ctx))
    records = []
    for key in store.list("runs/"):
        if key.endswith("/state.json") and (found := store.read(key)) is not None:
            records.append(RunRecord.from_dict(json.loads(found.data), generation=found.generation))
    return sorted(records, key=lambda r: (r.created_at, r.run_id))


def _write(ctx: PipelineContext, record: RunRecord, *, create: bool = False) -> RunRecord:
    record.updated_at = now()
    data = json.dumps(record.to_dict(), indent=2, sort_keys=True).encode()
    generation = _store(ctx).write(state_key(record.run_id), data, if_generation=None if create else record.generation)
    record.generation = generation
    return record


def _update(ctx: PipelineContext, run_id: str, change: Callable[[RunRecord], bool]) -> RunRecord:
    """Apply ``change`` to the latest record and write it with compare-and-swap, retrying on a lost
    race. ``change`` returns False to leave the record as it is (it is then not written)."""
    for _ in range(_RETRIES):
        record = load_run(ctx, run_id)
        if not change(record):
            return record
        try:
            return _write(ctx, record)
        except VersionConflict:
            continue
    raise PipelineError(f"run {run_id}: too many concurrent updates; retry")


def start_run(
    ctx: Context, options: RunOptions | None = None, *, run_id: str | None = None, until: str | None = None
) -> RunRecord:
    """Record a new run (no job yet: ``advance`` submits the first stage)."""
    pctx = pipeline_context(ctx)
    if until is not None and until not in STAGES:
        raise PipelineError(f"stage {until!r} is not a stage; use one of {', '.join(STAGES)}", code="invalid_run")
    run_id = check_run_id(run_id or new_run_id())
    record = RunRecord(run_id=run_id, client=pctx.client, options=asdict(options or RunOptions()), until=until)
    try:
        return _write(pctx, record, create=True)
    except VersionConflict:
        raise PipelineError(
            f"run {run_id} already exists; resume it or start a run with another id", code="conflict"
        ) from None


def _job_spec(ctx: PipelineContext, record: RunRecord, stage: StageRecord) -> JobSpec:
    options = RunOptions(**record.options)
    assert stage.job is not None
    return JobSpec(
        name=stage.job.name,
        module=ctx.stage_modules[stage.name],
        args=stage_args(stage.name, ctx, record.run_id, options),
        env=ctx.env,
        machine=ctx.machine,
    )


def _claim(ctx: PipelineContext, run_id: str, stage_name: str, generation: str) -> RunRecord | None:
    """Claim a pending stage for submission; None when another driver got there first."""
    record = load_run(ctx, run_id)
    stage = record.stage(stage_name)
    if record.generation != generation or stage.status is not StageStatus.PENDING or record.status.done:
        return None
    if stage.job is not None:
        stage.earlier_jobs.append(stage.job)
    stage.attempt += 1
    stage.status = StageStatus.SUBMITTING
    stage.claimed_at = now()
    stage.error = None
    stage.job = JobRecord.planned(f"{stage_name}-{run_id}-a{stage.attempt}", ctx.machine)
    record.status = RunStatus.RUNNING
    record.error = record.failed_stage = None
    try:
        return _write(ctx, record)
    except VersionConflict:
        return None


def _record_submitted(ctx: PipelineContext, run_id: str, stage_name: str, attempt: int, job_id: str) -> RunRecord:
    """Store the submitted job's id; if the run was cancelled meanwhile (or the claim was taken
    over), cancel the job instead so nothing runs unrecorded."""
    orphan = False

    def change(record: RunRecord) -> bool:
        nonlocal orphan
        stage = record.stage(stage_name)
        if stage.attempt != attempt or stage.status is not StageStatus.SUBMITTING or record.status.done:
            orphan = stage.job is None or stage.job.job_id != job_id
            return False
        assert stage.job is not None
        orphan = False
        stage.status = StageStatus.RUNNING
        stage.job.job_id = job_id
        stage.job.state = JobState.RUNNING.value
        stage.job.submitted_at = stage.job.submitted_at or now()
        return True

    record = _update(ctx, run_id, change)
    if orphan:
        ctx.jobs.cancel(job_id)
    return record


def _finish_stage(ctx: PipelineContext, run_id: str, stage_name: str, job_id: str, status: JobStatus) -> RunRecord:
    outputs = stage_outputs(stage_name, ctx, run_id) if status.state is JobState.SUCCEEDED else {}
    reason = stage_reason(status.message) if status.state is not JobState.SUCCEEDED else None

    def change(record: RunRecord) -> bool:
        stage = record.stage(stage_name)
        if stage.status is not StageStatus.RUNNING or stage.job is None or stage.job.job_id != job_id:
            return False
        stage.job.state = status.state.value
        stage.job.started_at = status.started_at or stage.job.started_at or stage.job.submitted_at
        stage.job.ended_at = status.ended_at or now()
        if status.state is JobState.SUCCEEDED:
            stage.status = StageStatus.SUCCEEDED
            stage.outputs = outputs
            if record.next_stage() is None:
                _finalize(record)
            return True
        stage.status = StageStatus.CANCELLED if status.state is JobState.CANCELLED else StageStatus.FAILED
        stage.error = reason
        if not record.status.done:
            record.status = RunStatus.CANCELLED if status.state is JobState.CANCELLED else RunStatus.FAILED
        record.failed_stage = stage_name
        record.error = f"{stage_name}: {reason}"
        return True

    return _update(ctx, run_id, change)


def _finalize(record: RunRecord) -> None:
    everything = all(s.status is StageStatus.SUCCEEDED for s in record.stages)
    record.status = RunStatus.SUCCEEDED if everything else RunStatus.PARTIAL
    record.error = record.failed_stage = None


def advance(ctx: Context, run_id: str) -> RunRecord:
    """Move the run on without waiting: submit the next stage's job, or record the running job's
    end (and then submit the next one). Returns the run as stored afterwards."""
    pctx = pipeline_context(ctx)
    for _ in range(2 * len(STAGES) + _RETRIES):
        record = load_run(pctx, run_id)
        if record.status.done:
            return record
        stage = record.next_stage()
        if stage is None:
            return _update(pctx, run_id, _finalize_if_running)
        if stage.status is StageStatus.PENDING:
            claimed = _claim(pctx, run_id, stage.name, record.generation)
            if claimed is None:
                continue
            stage = claimed.stage(stage.name)
            try:
                spec = _job_spec(pctx, claimed, stage)
                job_id = pctx.jobs.submit(spec)
            except Exception as exc:
                _fail_submission(pctx, run_id, stage.name, stage.attempt, exc)
                raise
            return _record_submitted(pctx, run_id, stage.name, stage.attempt, job_id)
        if stage.status is StageStatus.SUBMITTING:
            assert stage.job is not None
            found = pctx.jobs.find(stage.job.name)
            if found is not None:
                _record_submitted(pctx, run_id, stage.name, stage.attempt, found)
                continue
            claimed_at = datetime.fromisoformat(stage.claimed_at or now())
            if (datetime.now(UTC) - claimed_at).total_seconds() < pctx.claim_lease:
                return record  # another driver is submitting it right now
            _update(pctx, run_id, partial(_release, stage_name=stage.name, attempt=stage.attempt))
            continue
        if stage.status is StageStatus.RUNNING:
            assert stage.job is not None and stage.job.job_id is not None
            status = pctx.jobs.status(stage.job.job_id)
            if not status.state.done:
                return record
            record = _finish_stage(pctx, run_id, stage.name, stage.job.job_id, status)
            if record.status.done:
                return record
            continue
        return record  # a failed or cancelled stage in a run not yet marked done: nothing to do
    raise PipelineError(f"run {run_id}: could not advance (too many concurrent changes); retry")


def _finalize_if_running(record: RunRecord) -> bool:
    if record.status.done:
        return False
    _finalize(record)
    return True


def _release(record: RunRecord, *, stage_name: str, attempt: int) -> bool:
    stage = record.stage(stage_name)
    if stage.status is not StageStatus.SUBMITTING or stage.attempt != attempt:
        return False
    stage.status = StageStatus.PENDING
    return True


def _fail_submission(ctx: PipelineContext, run_id: str, stage_name: str, attempt: int, exc: Exception) -> None:
    message = getattr(exc, "message", None) or f"{type(exc).__name__}: could not submit the job"

    def change(record: RunRecord) -> bool:
        stage = record.stage(stage_name)
        if stage.attempt != attempt or stage.status is not StageStatus.SUBMITTING:
            return False
        stage.status = StageStatus.FAILED
        stage.error = message
        record.status = RunStatus.FAILED
        record.failed_stage = stage_name
        record.error = f"{stage_name}: {message}"
        return True

    _update(ctx, run_id, change)


def poll(ctx: Context, run_id: str) -> RunRecord:
    """The run as stored, with its running job's live state in ``stage.job.state`` (nothing is
    written: ``advance`` records a finished job)."""
    pctx = pipeline_context(ctx)
    record = load_run(pctx, run_id)
    stage = record.next_stage()
    if stage is not None and stage.status is StageStatus.RUNNING and stage.job and stage.job.job_id:
        status = pctx.jobs.status(stage.job.job_id)
        stage.job.state = status.state.value
        stage.job.started_at = status.started_at or stage.job.started_at
    return record


def cancel(ctx: Context, run_id: str) -> RunRecord:
    """Stop the run: its running job is cancelled and the run marked cancelled (resumable)."""
    pctx = pipeline_context(ctx)
    record = load_run(pctx, run_id)
    if record.status.done:
        return record
    stage = record.next_stage()
    if stage is not None and stage.job is not None and stage.job.job_id and stage.status is StageStatus.RUNNING:
        pctx.jobs.cancel(stage.job.job_id)

    def change(r: RunRecord) -> bool:
        if r.status.done:
            return False
        current = r.next_stage()
        if current is not None and current.status in {StageStatus.RUNNING, StageStatus.SUBMITTING}:
            current.status = StageStatus.CANCELLED
            current.error = "cancelled"
            if current.job is not None:
                current.job.state = JobState.CANCELLED.value
                current.job.started_at = current.job.started_at or current.job.submitted_at
                current.job.ended_at = current.job.ended_at or now()
            r.failed_stage = current.name
        r.status = RunStatus.CANCELLED
        r.error = "cancelled by request"
        return True

    cancelled = _update(pctx, run_id, change)
    # a driver may have submitted a job between our read and write: cancel whatever is recorded
    current = cancelled.stage(cancelled.failed_stage) if cancelled.failed_stage else None
    if (
        current is not None
        and current.job is not None
        and current.job.job_id
        and current.job.job_id != (stage.job.job_id if stage and stage.job else None)
    ):
        pctx.jobs.cancel(current.job.job_id)
    return cancelled


def resume(ctx: Context, run_id: str, *, from_stage: str | None = None, until: str | None = None) -> RunRecord:
    """Make a failed, cancelled or partial run runnable again from its first unfinished stage (or
    ``from_stage``; earlier stages must have succeeded). ``until`` sets the last stage to run."""
    pctx = pipeline_context(ctx)
    for name, value in (("--from-stage", from_stage), ("stage", until)):
        if value is not None and value not in STAGES:
            raise PipelineError(f"{name} {value!r} is not a stage; use one of {', '.join(STAGES)}", code="invalid_run")

    def change(record: RunRecord) -> bool:
        if record.status in {RunStatus.RUNNING, RunStatus.PENDING} and from_stage is None:
            raise PipelineError(
                f"run {run_id} is still {record.status.value}; cancel it first or let it finish", code="conflict"
            )
        record.until = until
        start = from_stage
        if start is None:
            pending = record.next_stage()
            if pending is None:
                raise PipelineError(f"run {run_id} already succeeded; start a new run (no --run-id)", code="conflict")
            start = pending.name
        missing = [s.name for s in record.stages[: STAGES.index(start)] if s.status is not StageStatus.SUCCEEDED]
        if missing:
            raise PipelineError(
                f"run {run_id}: stage {missing[0]} has not succeeded yet; resume from {missing[0]} first",
                code="invalid_run",
            )
        for stage in record.stages[STAGES.index(start) :]:
            if stage.status in {StageStatus.RUNNING, StageStatus.SUBMITTING}:
                raise PipelineError(
                    f"run {run_id}: stage {stage.name} is still running; cancel the run first", code="conflict"
                )
            stage.status = StageStatus.PENDING
            stage.error = None
        record.status = RunStatus.RUNNING
        record.error = record.failed_stage = None
        return True

    return _update(pctx, run_id, change)


def metered_jobs(ctx: Context) -> list[dict[str, Any]]:
    """Every finished job of every run of the client, flat: what billing prices (run, stage, attempt,
    start, end, seconds, machine type, accelerators, replicas). Jobs still running are left out."""
    rows = []
    for record in list_runs(ctx):
        for stage in record.stages:
            for attempt, job in enumerate(stage.jobs, start=1):
                if job.ended_at is None or job.started_at is None:
                    continue
                rows.append(
                    {
                        "client": record.client,
                        "run_id": record.run_id,
                        "stage": stage.name,
                        "attempt": attempt,
                        "job_id": job.job_id,
                        "state": job.state,
                        "started_at": job.started_at,
                        "ended_at": job.ended_at,
                        "seconds": job.seconds,
                        "machine_type": job.machine_type,
                        "accelerator_type": job.accelerator_type,
                        "accelerator_count": job.accelerator_count,
                        "replica_count": job.replica_count,
                    }
                )
    return rows


def describe(record: RunRecord) -> dict[str, Any]:
    """The record as JSON-ready data (what the apps' JSON APIs return)."""
    return record.to_dict()
