"""Training runs: estimate, quota and approval, a Celery task driving the pipeline stages, cancel,
resume from the failed (or interrupted) stage, metered cost, email at the end.

The stages run as jobs (subprocesses locally, Vertex AI on GCP) through ``trainer.pipeline``, which
keeps each run's state in the data bucket (``runs/{run_id}/state.json``); the page reads that state,
so progress shows whichever worker drives the run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

from flask import current_app

from b2brec.errors import B2BRecError
from b2brec.spec import TrainingSettings
from client_app import activity, jobs, validation
from client_app.auth.services import send_mail
from client_app.client import current_client
from client_app.errors import AppError, fix_of
from client_app.extensions import db
from client_app.models import Job, User, utcnow
from client_app.warehouse import query, table_exists
from trainer import STAGES, runs
from trainer.run_context import RunOptions, context_for
from trainer.runs import RunRecord, RunStatus

log = logging.getLogger("client_app.training")

HOURLY_USD: dict[str, float] = {"n1-standard-4": 0.19, "n1-standard-8": 0.38, "n1-standard-16": 0.76}
"""On-demand prices of the Vertex AI training machines (europe-west1, USD per hour)."""
GPU_HOURLY_USD: dict[str, float] = {"NVIDIA_TESLA_T4": 0.40, "NVIDIA_L4": 0.81, "NVIDIA_TESLA_V100": 2.93}
DRIVE_POLL_S = 1.0
"""How often the worker advances a run (each call is short: submit or record, never wait)."""
TUNABLE: tuple[str, ...] = ("window_days", "test_days", "epochs", "batch_size", "embedding_dim", "learning_rate")


def hourly_price() -> float:
    settings = current_client().settings
    price = HOURLY_USD.get(settings.vertex_machine_type, 0.38)
    if settings.vertex_accelerator_type:
        price += GPU_HOURLY_USD.get(settings.vertex_accelerator_type, 1.0) * settings.vertex_accelerator_count
    return price


def parse_options(form: dict[str, Any]) -> RunOptions:
    """Defaults from the client spec, adjusted by the form; each value range-checked with its fix."""
    overrides: dict[str, Any] = {
        "window_days": validation.integer(form.get("window_days"), "window (days)", low=7, high=3650, default=0)
        or None,
        "test_days": validation.integer(form.get("test_days"), "test period (days)", low=1, high=365, default=0)
        or None,
        "epochs": validation.integer(form.get("epochs"), "epochs", low=1, high=100, default=0) or None,
        "batch_size": validation.integer(form.get("batch_size"), "batch size", low=16, high=65536, default=0) or None,
        "embedding_dim": validation.integer(form.get("embedding_dim"), "embedding size", low=8, high=512, default=0)
        or None,
        "learning_rate": validation.number(form.get("learning_rate"), "learning rate", low=1e-5, high=1.0, default=0)
        or None,
    }
    from client_app.features.services import chosen_options

    given = {k: v for k, v in overrides.items() if v is not None}
    options = RunOptions.from_spec(current_client().base_spec, **{**chosen_options(), **given})
    if options.test_days >= options.window_days:
        raise AppError(
            f"the test period ({options.test_days} days) must be shorter than the window ({options.window_days} days)",
            fix="shorten the test period or lengthen the window",
        )
    return options


def training_rows(options: RunOptions) -> int:
    if not table_exists("raw_data", "transactions"):
        return 0
    rows = query(
        "SELECT COUNT(*) AS n FROM raw_data.transactions WHERE timestamp >= "
        "TIMESTAMP_SUB((SELECT MAX(timestamp) FROM raw_data.transactions), INTERVAL @days DAY)",
        {"days": options.window_days},
    )
    return int(rows[0]["n"] or 0)


def estimate(options: RunOptions) -> dict[str, float]:
    """Minutes and USD before the run: ~4 min of fixed stage overhead, then training time that grows
    with rows x epochs (measured on the demo data: ~1 min per million row-epochs on n1-standard-8)."""
    rows = training_rows(options)
    minutes = 4.0 + rows * options.epochs / 1_000_000
    return {"rows": float(rows), "minutes": round(minutes, 1), "usd": round(minutes / 60 * hourly_price(), 2)}


def limits() -> TrainingSettings:
    """The client's monthly quota and approval threshold (ClientSpec ``training:``)."""
    return current_client().base_spec.training


def runs_this_month(now: datetime | None = None) -> int:
    """Runs started this calendar month (a scheduled check that skipped training is not a run)."""
    start = (now or utcnow()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    query = db.select(Job.id).where(Job.kind == "training", Job.created_at >= start, Job.status != "skipped")
    return len(list(db.session.scalars(query)))


def check_quota() -> None:
    quota = limits().quota_per_month
    used = runs_this_month()
    if used >= quota:
        raise AppError(
            f"the monthly training quota is reached ({used} of {quota} runs this month)",
            code="quota_reached",
            fix="wait for next month, or ask your platform contact to raise it (ClientSpec training.quota_per_month)",
        )


def start(actor: User, form: dict[str, Any]) -> Job:
    """A run a user starts from the launcher (the form's values over the defaults)."""
    return launch(actor.email, parse_options(form), is_admin=actor.can("admin"))


def launch(requested_by: str, options: RunOptions, *, is_admin: bool, scheduled: bool = False) -> Job:
    """Record and queue a run: the quota is checked, a run above the approval threshold started by
    anyone but an admin waits for one, and the warehouse data it trains on is kept with it (what
    scheduled retraining compares against)."""
    from client_app.training.retrain import data_snapshot

    check_quota()
    running = jobs.active("training")
    if running is not None and not jobs.is_stalled(running) and running.status != "awaiting_approval":
        raise AppError(
            f"training run #{running.id} is still {running.status}", code="conflict", fix="wait or cancel it"
        )
    cost = estimate(options)
    job = jobs.create("training", requested_by, options=asdict(options), run_id=runs.new_run_id())
    job.estimated_cost = cost["usd"]
    job.progress = {"data": data_snapshot(), "scheduled": scheduled}
    needs_approval = cost["usd"] > limits().approval_threshold_usd and not is_admin
    job.status = "awaiting_approval" if needs_approval else "queued"
    activity.record(
        "training.start",
        job.run_id or "",
        f"estimate ${cost['usd']:.2f}" + (" (scheduled)" if scheduled else ""),
        actor=requested_by,
    )
    runs.start_run(_context(), options, run_id=job.run_id)
    db.session.commit()
    if not needs_approval:
        _enqueue(job.id)
    return job


def _enqueue(job_id: int) -> None:
    from client_app.worker import run_training

    run_training.delay(job_id)


def approve(job_id: int, admin: User) -> Job:
    job = jobs.get(job_id, "training")
    if job.status != "awaiting_approval":
        raise AppError(f"run #{job_id} is {job.status}, not waiting for approval", code="conflict", fix="reload")
    job.status, job.approved_by = "queued", admin.email
    activity.record("training.approve", job.run_id or "", actor=admin.email)
    db.session.commit()
    _enqueue(job.id)
    return job


def _context() -> Any:
    return context_for(current_client().context)


def execute(job_id: int) -> None:
    """Drive the run (in the worker): ``advance`` it until it is done, a short call each time.

    A killed worker leaves the run as it was (the stage's job keeps running); the next driver
    (Resume) adopts the running job, so nothing is lost or run twice."""
    job = jobs.get(job_id, "training")
    if job.status != "queued" or not job.run_id:
        log.info("training job %s is %s; nothing to do", job_id, job.status)
        return
    jobs.update(job_id, status="running", started_at=job.started_at or utcnow(), message="starting", error_code=None)
    ctx = _context()
    try:
        with jobs.heartbeat(job_id):
            record = _drive(job_id, ctx, job.run_id)
    except B2BRecError as exc:
        jobs.update(
            job_id,
            status="failed",
            finished_at=utcnow(),
            message=exc.message.splitlines()[0][:500],
            error_code=exc.code,
            error_fix=fix_of(exc) or "fix the cause, then press Resume",
        )
        _finish(job_id)
        return
    except Exception as exc:
        log.exception("training job %s failed", job_id)
        jobs.update(
            job_id,
            status="failed",
            finished_at=utcnow(),
            message=f"unexpected error ({type(exc).__name__})",
            error_fix="see the worker log, then press Resume",
        )
        _finish(job_id)
        return
    if record.status is RunStatus.CANCELLED:
        jobs.update(job_id, status="cancelled", finished_at=utcnow(), metered_cost=metered_cost(record))
        return
    if record.status in (RunStatus.FAILED,):
        stage = record.failed_stage or "?"
        jobs.update(
            job_id,
            status="failed",
            finished_at=utcnow(),
            message=f"stage {stage} failed: {record.error}"[:500],
            error_code="stage_failed",
            error_fix="fix the cause, then press Resume (it restarts at that stage)",
            metered_cost=metered_cost(record),
        )
    else:
        jobs.update(
            job_id,
            status="succeeded",
            finished_at=utcnow(),
            message="all stages succeeded",
            metered_cost=metered_cost(record),
        )
        if (job.progress or {}).get("scheduled"):
            from client_app.training.retrain import after_training

            after_training(job_id)
    _finish(job_id)


def _drive(job_id: int, ctx: Any, run_id: str) -> RunRecord:
    last = ""
    while True:
        record = runs.advance(ctx, run_id)
        current = record.next_stage()
        message = f"{current.name}: {current.status.value}" if current else record.status.value
        if message != last:
            jobs.update(job_id, message=message)
            last = message
        if record.status.done:
            return record
        time.sleep(DRIVE_POLL_S)


def metered_cost(record: RunRecord) -> float:
    seconds = sum(job.seconds or 0.0 for job in record.jobs())
    return round(seconds / 3600 * hourly_price(), 4)


def _finish(job_id: int) -> None:
    db.session.expire_all()
    job = jobs.get(job_id)
    user = db.session.scalar(db.select(User).where(User.email == job.requested_by))
    if user is None:
        return
    link = f"{current_app.config['B2BREC_APP'].base_url.rstrip('/')}/training/{job.id}"
    try:
        send_mail(user.email, f"Training run #{job.id} {job.status}", f"{job.message}\n{job.error_fix or ''}\n{link}\n")
    except OSError:
        log.warning("could not email %s about training run %s", user.email, job_id)


def cancel(job_id: int, actor: str) -> Job:
    job = jobs.get(job_id, "training")
    if job.status not in ("queued", "running", "awaiting_approval"):
        raise AppError(
            f"run #{job_id} is {job.status}; only an active run can be cancelled", code="conflict", fix="reload"
        )
    if job.run_id and current_client().storage("data").exists(runs.state_key(job.run_id)):
        runs.cancel(_context(), job.run_id)
    jobs.update(job_id, status="cancelled", finished_at=utcnow(), message="cancelled by " + actor)
    activity.record("training.cancel", job.run_id or "", actor=actor)
    db.session.commit()
    db.session.expire_all()
    return jobs.get(job_id)


def resume(job_id: int, actor: str) -> Job:
    """Continue a failed, cancelled or stalled run at its first unfinished stage (a stalled run's
    running job is adopted, not started again)."""
    job = jobs.get(job_id, "training")
    status = jobs.shown_status(job)
    if status not in ("failed", "cancelled", "stalled"):
        raise AppError(
            f"run #{job_id} is {status}; only a failed, cancelled or stalled run resumes",
            code="conflict",
            fix="reload the page",
        )
    if not job.run_id:
        raise AppError(f"run #{job_id} has no pipeline run", code="conflict", fix="start a new run")
    record = runs.load_run(_context(), job.run_id)
    if record.status.done:
        runs.resume(_context(), job.run_id)
    jobs.update(
        job_id, status="queued", finished_at=None, message=f"resumed by {actor}", error_code=None, error_fix=None
    )
    activity.record("training.resume", job.run_id, f"was {status}", actor=actor)
    db.session.commit()
    _enqueue(job_id)
    db.session.expire_all()
    return jobs.get(job_id)


def run_record(job: Job) -> RunRecord | None:
    data = current_client().storage("data")
    if not job.run_id or not data.exists(runs.state_key(job.run_id)):
        return None
    return runs.poll(_context(), job.run_id)


def stage_rows(job: Job) -> list[dict[str, Any]]:
    """One row per stage: status, job id, duration, error (pending stages included)."""
    record = run_record(job)
    if record is None:
        return [{"stage": s, "status": "pending", "job_id": None, "duration": None, "reason": None} for s in STAGES]
    rows = []
    for stage in record.stages:
        rows.append(
            {
                "stage": stage.name,
                "status": stage.status.value,
                "job_id": stage.job.job_id if stage.job else None,
                "duration": stage.job.seconds if stage.job else None,
                "reason": stage.error,
                "attempt": stage.attempt,
            }
        )
    return rows


def stage_log(job: Job, stage: str, lines: int = 40) -> str:
    record = run_record(job)
    if record is None or stage not in STAGES:
        return ""
    found = record.stage(stage)
    if found.job is None or not found.job.job_id:
        return ""
    logs = getattr(current_client().backends.jobs, "logs", None)
    text = logs(found.job.job_id) if callable(logs) else ""
    return "\n".join(str(text).splitlines()[-lines:])


def tick() -> Job | None:
    """Scheduled retraining (called every minute by beat): see ``training.retrain``."""
    from client_app.training.retrain import tick as retrain_tick

    return retrain_tick()
