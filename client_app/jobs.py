"""Jobs the worker drives (ETL and training runs): create, heartbeat, finish, and stall detection.

The worker updates ``heartbeat_at`` every few seconds from a background thread while a job runs; a
running job whose heartbeat is older than ``stall_after_s`` lost its worker (killed, machine gone) and
is shown as *stalled*, with a Resume button.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from client_app.errors import AppError
from client_app.extensions import db
from client_app.models import Job, utcnow

HEARTBEAT_S = 2.0
ACTIVE = ("queued", "running", "awaiting_approval")


def get(job_id: int, kind: str | None = None) -> Job:
    job = db.session.get(Job, job_id)
    if job is None or (kind is not None and job.kind != kind):
        raise AppError(
            f"no {kind or ''} run {job_id}".replace("  ", " "), code="not_found", fix="pick one from the list"
        )
    return job


def create(kind: str, actor: str, *, options: dict[str, Any] | None = None, run_id: str | None = None) -> Job:
    job = Job(kind=kind, requested_by=actor, options=options or {}, run_id=run_id, status="queued", progress={})
    db.session.add(job)
    db.session.flush()
    return job


def update(job_id: int, **values: Any) -> None:
    """Write some columns of a job in their own short transaction (safe from any thread)."""
    with db.engine.begin() as conn:
        conn.execute(sa.update(Job).where(Job.id == job_id).values(**values))


@contextlib.contextmanager
def heartbeat(job_id: int) -> Iterator[None]:
    """Keep the job's heartbeat fresh while the block runs."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()

    def beat() -> None:
        with app.app_context():
            while not stop.wait(HEARTBEAT_S):
                update(job_id, heartbeat_at=utcnow())

    update(job_id, heartbeat_at=utcnow())
    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=HEARTBEAT_S * 2)


def is_stalled(job: Job, now: datetime | None = None) -> bool:
    if job.status != "running":
        return False
    limit = timedelta(seconds=current_app.config["B2BREC_APP"].stall_after_s)
    seen = job.heartbeat_at or job.started_at or job.created_at
    return (now or utcnow()) - seen > limit


def shown_status(job: Job) -> str:
    return "stalled" if is_stalled(job) else job.status


def active(kind: str) -> Job | None:
    return db.session.scalar(
        db.select(Job).where(Job.kind == kind, Job.status.in_(ACTIVE)).order_by(Job.created_at.desc()).limit(1)
    )


def recent(kind: str, limit: int = 50) -> list[Job]:
    return list(
        db.session.scalars(
            db.select(Job).where(Job.kind == kind).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        )
    )
