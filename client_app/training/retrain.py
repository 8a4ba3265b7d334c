"""Scheduled retraining: train only when new data arrived, deploy only if the new model wins.

When the retrain schedule (ClientSpec ``training.retrain_schedule``, changed on the Training page)
comes due, ``run_scheduled`` compares the warehouse now (sales rows, newest sale) with the data the
last successful run trained on (kept in its job row as ``progress.data``): unchanged → a *skipped*
row with the reason; changed → a training run like a user's (quota and approval rules included).
When a scheduled run succeeds, ``after_training`` scores the live model on the new run's test set
(``training.compare``) and deploys the new version only if it scores higher; otherwise the run says
why it was not deployed. Skips and decisions are kept in the job rows and shown on the page.

Locally the app's Celery beat tick fires the schedule; on GCP the stack's Cloud Scheduler job
``retrain-schedule`` does (the app changes it through ``b2brec.backends.schedules``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from flask import current_app

from b2brec.backends.schedules import Schedule
from b2brec.errors import B2BRecError
from b2brec.live import deploy_live_version
from client_app import activity, jobs
from client_app.client import current_client
from client_app.errors import AppError
from client_app.extensions import db
from client_app.models import Job, get_preference, set_preference, utcnow
from client_app.training.compare import compare_with_live
from client_app.warehouse import query, table_exists

log = logging.getLogger("client_app.training.retrain")
ACTOR = "schedule"
SCHEDULE_KEY = "retrain_schedule"
LAST_TICK_KEY = "retrain_last_tick"


def schedule() -> str | None:
    """The retrain cron (UTC), or None when scheduled retraining is off."""
    chosen = get_preference(SCHEDULE_KEY)
    if chosen is not None:
        return str(chosen) or None
    return current_client().base_spec.training.retrain_schedule


def set_schedule(expression: str | None, actor: str) -> str | None:
    """Turn scheduled retraining on (a 5-field cron, UTC) or off (blank), here and in the scheduler."""
    cleaned = " ".join(str(expression or "").split())
    if cleaned and (len(cleaned.split(" ")) != 5 or not croniter.is_valid(cleaned)):
        raise AppError(
            "the retrain schedule is not a 5-field cron expression",  # not echoed: it may be anything
            fix="use e.g. '0 4 * * 1' (Mondays at 04:00 UTC), or leave it blank to turn retraining off",
        )
    current = schedule()
    # a paused job still needs a valid cron: keep the last one (or a weekly default)
    entry = Schedule(name="retrain", cron=cleaned or current or "0 4 * * 1", enabled=bool(cleaned))
    current_client().backends.schedules.apply(entry)
    set_preference(SCHEDULE_KEY, cleaned)
    set_preference(LAST_TICK_KEY, utcnow().isoformat())
    activity.record("training.schedule", cleaned or "off", actor=actor)
    db.session.commit()
    return cleaned or None


def next_runs(count: int = 5) -> list[datetime]:
    """The next scheduled retraining checks in the client's time zone (none when off)."""
    cron = schedule()
    if not cron:
        return []
    tz = ZoneInfo(current_app.config["B2BREC_APP"].timezone)
    it = croniter(cron, datetime.now(ZoneInfo("UTC")))
    return [it.get_next(datetime).astimezone(tz) for _ in range(count)]


def data_snapshot() -> dict[str, Any]:
    """What the warehouse holds now: sales rows and the newest sale (ISO), the freshness a run is
    compared by."""
    if not table_exists("raw_data", "transactions"):
        return {"rows": 0, "newest": None}
    row = query("SELECT COUNT(*) AS n, MAX(timestamp) AS newest FROM raw_data.transactions")[0]
    newest = row["newest"]
    return {"rows": int(row["n"] or 0), "newest": newest.isoformat() if newest is not None else None}


def last_trained_on() -> dict[str, Any] | None:
    """The data the newest successful run trained on (None: no run recorded it)."""
    done = db.session.scalars(
        db.select(Job)
        .where(Job.kind == "training", Job.status == "succeeded")
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(20)
    )
    for job in done:
        data = (job.progress or {}).get("data")
        if data:
            return dict(data)
    return None


def new_data_reason(now: dict[str, Any], last: dict[str, Any] | None) -> tuple[bool, str]:
    """Whether the warehouse changed since ``last`` (what the last run trained on), and why."""
    if not now.get("rows"):
        return False, "the warehouse has no sales yet; load data first"
    if last is None:
        return True, "no earlier run recorded the data it trained on"
    if now.get("newest") and (not last.get("newest") or str(now["newest"]) > str(last["newest"])):
        return True, f"new sales up to {now['newest']} (the last run's data ended {last.get('newest')})"
    if int(now["rows"]) != int(last.get("rows") or 0):
        return True, f"{now['rows']:,} sales rows now, {int(last.get('rows') or 0):,} when the last run trained"
    return False, (
        f"no new data since the last run (newest sale {now.get('newest')}, {int(now['rows']):,} rows); "
        "the next check runs on schedule"
    )


def _skip(reason: str, data: dict[str, Any]) -> Job:
    job = jobs.create("training", ACTOR, options={})
    job.status, job.message, job.finished_at = "skipped", reason[:500], utcnow()
    job.progress = {"scheduled": True, "data": data, "skip": reason}
    activity.record("training.skip", "", reason[:200], actor=ACTOR)
    db.session.commit()
    log.info("scheduled retraining skipped: %s", reason)
    return job


def run_scheduled() -> Job:
    """One scheduled check: a skipped row, or a started training run."""
    from client_app.training import services

    running = jobs.active("training")
    if running is not None and not jobs.is_stalled(running):
        return _skip(f"training run #{running.id} is still {running.status}", data_snapshot())
    now = data_snapshot()
    changed, why = new_data_reason(now, last_trained_on())
    if not changed:
        return _skip(why, now)
    try:
        job = services.launch(ACTOR, services.parse_options({}), is_admin=False, scheduled=True)
    except AppError as exc:
        return _skip(f"{exc.message}", now)
    log.info("scheduled retraining started run #%s: %s", job.id, why)
    return job


def tick() -> Job | None:
    """Called every minute by beat (locally): run the check when the schedule came due."""
    cron = schedule()
    if not cron or not current_client().backends.schedules.fires_in_app:
        return None
    now = datetime.now(ZoneInfo("UTC"))
    last_raw = get_preference(LAST_TICK_KEY)
    last = datetime.fromisoformat(last_raw).replace(tzinfo=ZoneInfo("UTC")) if last_raw else now
    due = croniter(cron, last).get_next(datetime)
    set_preference(LAST_TICK_KEY, now.replace(tzinfo=None).isoformat())
    db.session.commit()
    if due > now:
        return None
    return run_scheduled()


def after_training(job_id: int) -> None:
    """A scheduled run succeeded: deploy it only if it beats the live model on its test set."""
    job = jobs.get(job_id, "training")
    if not job.run_id:
        return
    client = current_client()
    models = client.storage("models")
    try:
        comparison = compare_with_live(client.storage("data"), models, job.run_id)
    except Exception as exc:  # the run stays as trained; nothing is deployed on a failed comparison
        log.exception("comparing run %s with the live model failed", job.run_id)
        _record(job, {"deploy": False, "reason": f"the comparison with the live model failed ({exc})"[:500]})
        return
    outcome = comparison.to_dict()
    if comparison.deploy:
        try:
            deploy_live_version(models, job.run_id, actor=ACTOR, reason=comparison.reason)
        except B2BRecError as exc:  # its bundle does not load: the live model stays, the reason is kept
            log.error("run %s beat the live model but cannot be deployed: %s", job.run_id, exc.message)
            _record(job, {**outcome, "deploy": False, "deployed": False, "reason": exc.message[:500]})
            return
        activity.record("deploy", job.run_id, comparison.reason, actor=ACTOR)
        outcome["deployed"] = True
    else:
        activity.record("training.not_deployed", job.run_id, comparison.reason[:200], actor=ACTOR)
        outcome["deployed"] = False
    _record(job, outcome)


def _record(job: Job, outcome: dict[str, Any]) -> None:
    verb = "deployed" if outcome.get("deployed") else "not deployed"
    jobs.update(
        job.id,
        progress={**(job.progress or {}), "comparison": outcome},
        message=f"all stages succeeded; {verb}: {outcome.get('reason', '')}"[:500],
    )
    db.session.commit()
