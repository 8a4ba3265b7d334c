"""ETL runs started from the app (now, or by the schedule), run by the worker through ``b2brec.etl``."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from flask import current_app

from b2brec.backends.schedules import Schedule
from b2brec.errors import B2BRecError
from b2brec.etl import list_runs, run_etl
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


def execute(job_id: int) -> None:
    """Run one ETL job (in the worker); the job row says how it went."""
    job = jobs.get(job_id, "etl")
    jobs.update(job_id, status="running", started_at=utcnow(), message="checking the sources")
    last_write = [0.0]

    def progress(event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.kind in ("done", "error") or now - last_write[0] > 0.5:
            last_write[0] = now
            count = f" {event.done:,} rows" if event.done is not None else ""
            jobs.update(job_id, message=(event.message or f"{event.stage}: {event.kind}{count}")[:500])

    try:
        with jobs.heartbeat(job_id):
            summary = run_etl(
                current_client().context_with(effective_spec()),
                full_refresh=bool(job.options.get("full_refresh")),
                on_event=progress,
            )
    except B2BRecError as exc:
        jobs.update(
            job_id,
            status="failed",
            finished_at=utcnow(),
            message=exc.args[0] if exc.args else str(exc),
            error_code=exc.code,
            error_fix=fix_of(exc),
        )
        _notify_failure(job_id, exc)
        return
    except Exception as exc:  # the run is marked failed either way; details go to the worker log
        log.exception("ETL job %s failed", job_id)
        jobs.update(job_id, status="failed", finished_at=utcnow(), message=f"unexpected error ({type(exc).__name__})")
        _notify_failure(job_id, exc)
        return
    jobs.update(
        job_id,
        status="succeeded",
        finished_at=utcnow(),
        run_id=summary.run_id,
        message=f"{summary.rows_read:,} rows read, {summary.rows_written:,} written in {summary.duration_seconds:.1f}s",
        progress={"tables": [t.__dict__ for t in summary.tables]},
    )


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
