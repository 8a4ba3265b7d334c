"""Run a pipeline to its end in one blocking call (the CLI and the demo): ``trainer.runs``'s
start/advance calls in a loop, so a run started here can be polled, cancelled or resumed from
anywhere else, and one resumed here may have been started by a worker."""

from __future__ import annotations

import time

from b2brec.progress import EventKind, OnEvent, ProgressEvent
from trainer import STAGES
from trainer.errors import PipelineError
from trainer.run_context import PipelineContext, RunOptions, context_for, stage_args, stage_outputs
from trainer.runs import (
    RunRecord,
    RunStatus,
    StageRecord,
    StageStatus,
    advance,
    load_run,
    resume,
    start_run,
    state_key,
)
from trainer.runs import list_runs as list_runs

__all__ = [
    "PipelineContext",
    "RunOptions",
    "context_for",
    "list_runs",
    "load_run",
    "run_pipeline",
    "stage_args",
    "stage_outputs",
    "state_key",
]

_KINDS: dict[StageStatus, EventKind] = {
    StageStatus.SUBMITTING: "start",
    StageStatus.RUNNING: "start",
    StageStatus.SUCCEEDED: "done",
    StageStatus.FAILED: "error",
    StageStatus.CANCELLED: "error",
}


def run_pipeline(
    ctx: PipelineContext,
    *,
    options: RunOptions | None = None,
    run_id: str | None = None,
    from_stage: str | None = None,
    only: str | None = None,
    on_event: OnEvent | None = None,
) -> RunRecord:
    """Run (or resume) a pipeline run; returns its final record. Raises PipelineError when a stage
    fails (the record then says which stage, why, and keeps the earlier stages' outputs)."""
    for name, value in (("--from-stage", from_stage), ("stage", only)):
        if value is not None and value not in STAGES:
            raise PipelineError(f"{name} {value!r} is not a stage; use one of {', '.join(STAGES)}", code="invalid_run")
    if run_id is not None and ctx.data.exists(state_key(run_id)):
        record = load_run(ctx, run_id)
        if record.status.done or from_stage or only:  # a run still going (a worker's) is simply joined
            record = resume(ctx, run_id, from_stage=from_stage or only, until=only)
    else:
        if from_stage not in (None, STAGES[0]) or only not in (None, STAGES[0]):
            raise PipelineError(
                "a new run starts at the extract stage; pass --run-id of an earlier run to resume", code="invalid_run"
            )
        record = start_run(ctx, options, run_id=run_id, until=only)
    seen = {s.name: s.status for s in record.stages}
    stage_started = time.monotonic()
    while True:
        record = advance(ctx, record.run_id)
        for stage in record.stages:
            if stage.status is not seen[stage.name]:
                seen[stage.name] = stage.status
                stage_started = time.monotonic()
                if on_event is not None and stage.status in _KINDS:
                    on_event(_event(record, stage))
        if record.status.done:
            break
        if time.monotonic() - stage_started > ctx.timeout:
            raise PipelineError(
                f"run {record.run_id}: no stage finished within {ctx.timeout:.0f}s; "
                f"see `b2brec pipeline status --run-id {record.run_id}`"
            )
        time.sleep(ctx.poll)
    if record.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        failed = record.failed_stage or "?"
        reason = record.stage(failed).error if record.failed_stage else record.error
        raise PipelineError(
            f"stage {failed} of run {record.run_id} {record.status.value}: {reason}\n"
            f"fix the cause, then resume with --run-id {record.run_id} (it restarts at {failed})"
        )
    return record


def _event(record: RunRecord, stage: StageRecord) -> ProgressEvent:
    """A stage's status change as a progress event: ``done`` of ``total`` counts the run's planned stages."""
    planned = record.planned()
    job = stage.job
    where = f" (job {job.job_id})" if job is not None and job.job_id else ""
    message = f"{stage.name}: {stage.status.value}{where}" + (f": {stage.error}" if stage.error else "")
    return ProgressEvent(
        stage=stage.name,
        kind=_KINDS[stage.status],
        done=sum(s.status is StageStatus.SUCCEEDED for s in planned),
        total=len(planned),
        message=message,
        data={
            "run_id": record.run_id,
            "status": stage.status.value,
            "job_id": job.job_id if job else None,
            "error": stage.error,
            "outputs": stage.outputs,
        },
    )
