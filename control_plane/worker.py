"""Celery for long work: provisioning jobs, rollout ticks, fleet polls, metering.

Locally the broker is kombu's SQLite transport under B2BREC_HOME (no server needed); on GCP the stack
gives Memorystore Redis as ``B2BREC_BROKER_*`` (TLS + AUTH, ``b2brec.broker``); ``B2BREC_CP_BROKER_URL``
overrides both. ``celery_eager`` runs tasks in-process.

    celery -A control_plane.worker:celery_app worker --pool=solo
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery
from flask import Flask

from control_plane.runtime import EXTENSION_KEY, Runtime

log = logging.getLogger(__name__)
celery_app = Celery("control_plane")


def init_celery(app: Flask) -> Celery:
    rt: Runtime = app.extensions[EXTENSION_KEY]
    state = rt.settings.state_dir(rt.platform)
    broker = rt.settings.resolved_broker(rt.platform)
    # connections pooled for an earlier broker (a process that builds the app again) would keep sending there
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
        celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.conf.update(
        **broker,
        result_backend=None,
        task_always_eager=rt.settings.celery_eager,
        task_eager_propagates=True,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "rollouts": {"task": "control_plane.tick", "schedule": 5.0},
            "fleet": {"task": "control_plane.poll", "schedule": 300.0},
        },
        beat_schedule_filename=str(state / "celerybeat-schedule"),
    )
    celery_app.flask_app = app  # type: ignore[attr-defined]
    return celery_app


def celery_enqueue(app: Flask) -> Callable[[str, Any], None]:
    """Send to the broker; with ``celery_eager`` run in this process against ``app``."""
    rt: Runtime = app.extensions[EXTENSION_KEY]

    def enqueue(name: str, arg: Any) -> None:
        if rt.settings.celery_eager:
            run_task(app, name, arg)
        else:
            celery_app.send_task(name, args=[arg])

    return enqueue


def run_task(app: Flask, name: str, arg: Any = None) -> Any:
    """Run one task body inside ``app``'s context (what the worker does for each message)."""
    with app.app_context():
        return TASK_BODIES[name](app.extensions[EXTENSION_KEY], arg)


def _with_app(name: str) -> Callable[[Any], Any]:
    def run(arg: Any = None) -> Any:
        return run_task(celery_app.flask_app, name, arg)  # type: ignore[attr-defined]

    return run


def _provision(rt: Runtime, job_id: int) -> None:
    from control_plane.clients.services import run_job

    run_job(rt, int(job_id))


def _plan(rt: Runtime, draft_id: int) -> None:
    from control_plane.onboarding.services import run_plan

    run_plan(rt.provisioner, int(draft_id))


def _tick(rt: Runtime, _: Any) -> None:
    from control_plane.rollouts.services import tick_all

    tick_all(rt)


def _poll(rt: Runtime, _: Any) -> None:
    from control_plane.billing import services as billing
    from control_plane.clients.services import list_clients
    from control_plane.health.services import poll_fleet

    poll_fleet(rt)
    clients = list_clients()
    billing.meter_fleet(rt, clients)
    billing.raise_cost_alerts(rt, clients)


TASK_BODIES: dict[str, Callable[[Runtime, Any], Any]] = {
    "control_plane.provision": _provision,
    "control_plane.plan": _plan,
    "control_plane.tick": _tick,
    "control_plane.poll": _poll,
}
for _name in TASK_BODIES:
    celery_app.task(name=_name)(_with_app(_name))


def worker_app(flask_app: Flask) -> Celery:
    """The Celery app bound to ``flask_app`` (used by ``b2brec control-plane worker``)."""
    return init_celery(flask_app)
