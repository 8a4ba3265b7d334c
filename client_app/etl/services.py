"""ETL runs started from the app (now, or by the schedule): the worker submits each as a job through the
client's ETL job runner (``b2brec.etl.jobs``) and polls it, so on GCP the load runs in the client's Cloud
Run ETL job, not in the worker."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from flask import current_app

from b2brec.backends.jobs import JobRunner, JobState, JobStatus, MachineSpec
from b2brec.backends.schedules import Schedule
from b2brec.backends.storage import ObjectStore
from b2brec.errors import B2BRecError
from b2brec.etl import EtlError, list_runs
from b2brec.etl.jobs import new_run_id, read_outcome, read_progress, submit_etl
from b2brec.features import RAW_DATASET
from b2brec.progress import ProgressEvent
from client_app import activity, jobs
from client_app.auth.services import send_mail
from client_app.client import current_client
from client_app.connections.services import effective_spec
from client_app.errors import AppError, fix_of
from client_app.extensions import db
from client_app.models import Job, User, get_preference, set_preference, utcnow
from client_app.warehouse import table_exists

log = logging.getLogger("client_app.etl")
SCHEDULE_KEY = "etl_schedule"
LAST_SCHEDULED_KEY = "etl_last_scheduled"


def start(actor: str, *, full_refresh: bool = False) -> Job:
    running = jobs.active("etl")
    if running is not None and not jobs.is_stalled(running):
        raise AppError(
            f"an ETL run is already {running.status} (#{running.id})", code="conflict", fix="wait for it to end"
        )
    job = jobs.create("etl", actor, options={"full_refresh": full_refresh})
    activity.record("etl.start", f"etl #{job.id}", "full refresh" if full_refresh else "incremental", actor=actor)
    db.session.commit()
    from client_app.worker import run_etl as task

    task.delay(job.id)
    return job


POLL_S = 1.0
"""How often the worker polls the ETL job (its state, then its latest progress event)."""


def execute(job_id: int) -> None:
    """Run one ETL job (in the worker) through the client's ETL job runner: a subprocess locally, an
    execution of the client's Cloud Run ETL job on GCP (``b2brec.etl.jobs``). Submits it, polls it to
    its end, and records on the job row the execution (its id, start, end and machine, what billing
    meters) and the outcome. A task that runs again for the same job adopts the execution it submitted."""
    job = jobs.get(job_id, "etl")
    client = current_client()
    runner, data = client.backends.etl_jobs, client.storage("data")
    run_id = job.run_id or new_run_id()
    execution: dict[str, Any] = dict((job.progress or {}).get("execution") or {})
    try:
        if not execution.get("job_id"):
            machine = client.backends.etl_machine
            execution = {"name": f"etl-{run_id}", **_machine(machine), **execution}
            jobs.update(
                job_id, status="running", started_at=utcnow(), run_id=run_id, message="starting the ETL job",
                progress={"execution": execution},
            )  # fmt: skip
            found = runner.find(execution["name"])  # submitted before a crash, id not recorded: adopt it
            execution["job_id"] = found or submit_etl(
                runner,
                effective_spec(),
                full_refresh=bool(job.options.get("full_refresh")),
                run_id=run_id,
                machine=machine,
            )
            execution["submitted_at"] = execution.get("submitted_at") or datetime.now(UTC).isoformat()
            jobs.update(job_id, progress={"execution": execution})
        with jobs.heartbeat(job_id):
            status = _follow(job_id, runner, data, run_id, execution)
    except B2BRecError as exc:
        _failed(job_id, exc.message, exc.code, fix_of(exc), exc, execution)
        return
    except Exception as exc:  # the run is marked failed either way; details go to the worker log
        log.exception("ETL job %s failed", job_id)
        _failed(job_id, f"unexpected error ({type(exc).__name__})", None, None, exc, execution)
        return
    _finish(job_id, status, read_outcome(data, run_id), execution)


def _machine(machine: MachineSpec) -> dict[str, Any]:
    return {
        "machine_type": machine.machine_type,
        "accelerator_type": machine.accelerator_type,
        "accelerator_count": machine.accelerator_count,
        "replica_count": machine.replica_count,
    }


def _follow(job_id: int, runner: JobRunner, data: ObjectStore, run_id: str, execution: dict[str, Any]) -> JobStatus:
    """Poll the execution until it ends, copying its times and its latest progress event to the job row."""
    shown = None
    while True:
        status = runner.status(execution["job_id"])
        execution.update(state=status.state.value, started_at=status.started_at, ended_at=status.ended_at)
        event = read_progress(data, run_id)
        message = _event_message(event) if event is not None else f"ETL job {status.state.value}"
        if (message, status.state) != shown:
            shown = (message, status.state)
            jobs.update(job_id, message=message[:500], progress={"execution": execution})
        if status.state.done:
            return status
        time.sleep(POLL_S)


def _event_message(event: ProgressEvent) -> str:
    count = f" {event.done:,} rows" if event.done is not None else ""
    return event.message or f"{event.stage}: {event.kind}{count}"


def _finish(job_id: int, status: JobStatus, outcome: dict[str, Any] | None, execution: dict[str, Any]) -> None:
    if status.state is JobState.SUCCEEDED and outcome and outcome.get("status") == "succeeded":
        summary = outcome["summary"]
        jobs.update(
            job_id,
            status="succeeded",
            finished_at=utcnow(),
            run_id=summary["run_id"],
            message=f"{outcome['rows_read']:,} rows read, {outcome['rows_written']:,} written "
            f"in {outcome['duration_seconds']:.1f}s",
            progress={"execution": execution, "tables": summary["tables"]},
        )
        return
    if outcome and outcome.get("status") == "failed":
        error = EtlError(outcome["message"], code=outcome["code"], fix=outcome.get("fix") or "")
        _failed(job_id, error.message, error.code, error.fix, error, execution)
        return
    if status.state is JobState.CANCELLED:
        jobs.update(
            job_id, status="cancelled", finished_at=utcnow(), message="the ETL job was cancelled",
            progress={"execution": execution},
        )  # fmt: skip
        return
    message = f"the ETL job {status.state.value} without a result: {status.message or 'see its log'}"
    error = EtlError(message[:500], code="etl_error", fix="see the ETL job's log, then run the ETL again")
    _failed(job_id, error.message, error.code, error.fix, error, execution)


def _failed(
    job_id: int, message: str, code: str | None, fix: str | None, exc: Exception, execution: dict[str, Any]
) -> None:
    jobs.update(
        job_id,
        status="failed",
        finished_at=utcnow(),
        message=message,
        error_code=code,
        error_fix=fix,
        progress={"execution": execution} if execution else {},
    )
    _notify_failure(job_id, exc)


def _notify_failure(job_id: int, exc: Exception) -> None:
    admins = db.session.scalars(db.select(User).where(User.role == "admin", User.active.is_(True)))
    fix = fix_of(exc) if isinstance(exc, B2BRecError) else None
    body = f"ETL run #{job_id} failed: {exc.args[0] if exc.args else type(exc).__name__}\n"
    body += f"How to fix: {fix}\n" if fix else ""
    body += f"{current_app.config['B2BREC_APP'].base_url.rstrip('/')}/etl/\n"
    for admin in admins:
        try:
            send_mail(admin.email, f"ETL run #{job_id} failed", body)
        except OSError:
            log.warning("could not email %s about ETL run %s", admin.email, job_id)


def history(limit: int = 30) -> list[dict[str, Any]]:
    """Runs recorded in the warehouse (``raw_data._etl_runs``), newest first."""
    if not table_exists(RAW_DATASET, "_etl_runs"):
        return []
    return list_runs(current_client().warehouse, limit=limit)


def schedule() -> str:
    return str(get_preference(SCHEDULE_KEY, current_client().base_spec.etl.schedule))


def set_schedule(expression: str, actor: str) -> str:
    cleaned = " ".join(str(expression or "").split())
    fields = cleaned.split(" ")
    if len(fields) != 5 or not croniter.is_valid(cleaned):
        raise AppError(
            f"{cleaned[:60]!r} is not a 5-field cron expression", fix="use e.g. '0 2 * * *' (daily at 02:00 UTC)"
        )
    # the scheduler first: on GCP the stack's Cloud Scheduler job (a refusal saves nothing here)
    current_client().backends.schedules.apply(Schedule(name="etl", cron=cleaned))
    set_preference(SCHEDULE_KEY, cleaned)
    set_preference(LAST_SCHEDULED_KEY, utcnow().isoformat())
    activity.record("etl.schedule", cleaned, actor=actor)
    db.session.commit()
    return cleaned


def next_runs(count: int = 5) -> list[datetime]:
    """The next scheduled runs, in the client's time zone (the cron expression is in UTC)."""
    tz = ZoneInfo(current_app.config["B2BREC_APP"].timezone)
    base = datetime.now(ZoneInfo("UTC"))
    it = croniter(schedule(), base)
    return [it.get_next(datetime).astimezone(tz) for _ in range(count)]


def tick() -> Job | None:
    """Start an ETL run when the schedule came due since the last tick (called every minute by beat).
    Only where the app's beat fires schedules (locally); on GCP Cloud Scheduler runs the ETL job."""
    if not current_client().backends.schedules.fires_in_app:
        return None
    now = datetime.now(ZoneInfo("UTC"))
    last_raw = get_preference(LAST_SCHEDULED_KEY)
    last = datetime.fromisoformat(last_raw).replace(tzinfo=ZoneInfo("UTC")) if last_raw else now
    due = croniter(schedule(), last).get_next(datetime)
    set_preference(LAST_SCHEDULED_KEY, now.replace(tzinfo=None).isoformat())
    db.session.commit()
    if due > now:
        return None
    try:
        return start("schedule")
    except AppError as exc:
        log.info("scheduled ETL skipped: %s", exc.message)
        return None
