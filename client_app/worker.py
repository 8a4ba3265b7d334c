"""The app's Celery worker: ETL runs, training runs and the schedule tick.

Run it with ``celery -A client_app.worker:celery_app worker`` (``b2brec app serve`` does), with the
same ``B2BREC_APP_*`` / ``B2BREC_*`` environment as the web app. The broker is SQLite through kombu
on the embedded default (a file in the client project's db/), Memorystore Redis on GCP (TLS + AUTH from
``B2BREC_BROKER_*``, assembled by ``b2brec.broker``); ``B2BREC_APP_BROKER_URL`` overrides both.
Tasks carry only a job id; the job's state lives in the app database, so a killed worker loses nothing
but its heartbeat (the page then offers *Resume*).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from celery import Celery
from flask import Flask
from pydantic import ValidationError

from b2brec.broker import celery_broker
from b2brec.settings import Settings
from client_app.config import AppConfig

celery_app = Celery("client_app")


def local_broker_url(config: AppConfig, settings: Settings) -> str:
    """kombu's SQLite broker in the client project's db/ (the embedded default)."""
    from client_app.client import ClientRuntime

    url = ClientRuntime(config, settings).backends.default_broker_url
    if url is None:
        raise ValueError(
            "no Celery broker on backend=gcp: the stack sets B2BREC_BROKER_HOST/_PORT/_AUTH/_CA (Memorystore); "
            "or set B2BREC_APP_BROKER_URL"
        )
    return url


def celery_settings(config: AppConfig, settings: Settings) -> dict[str, Any]:
    return {
        **celery_broker(config.broker_url, lambda: local_broker_url(config, settings)),
        "task_ignore_result": True,
        "task_acks_late": False,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "beat_schedule": {"schedule-tick": {"task": "client_app.schedule_tick", "schedule": 60.0}},
        "timezone": "UTC",
    }


def configure(config: AppConfig, settings: Settings) -> Celery:
    """Point the Celery app at this client's broker (the web app calls it so .delay() goes there)."""
    values = celery_settings(config, settings)
    drop_connections(celery_app)
    celery_app.conf.update(values)
    return celery_app


def drop_connections(app: Celery) -> None:
    """Forget connections pooled for an earlier broker, which ``.delay()`` would otherwise keep using
    (a process that configures the app again: tests, one app per client)."""
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


def _from_environment() -> dict[str, Any]:
    """The worker's and beat's settings, read from the environment when Celery first needs them.

    In a process that configured the app explicitly (``configure``: the web app, tests) the
    environment may name no client; the explicit settings then stand alone."""
    try:
        config = AppConfig()  # type: ignore[call-arg]
    except ValidationError:
        return {}
    return celery_settings(config, Settings())


celery_app.add_defaults(_from_environment)  # lazy: only read when a worker or beat starts from the env


@cache
def flask_app() -> Flask:
    """The worker's own Flask app (same config from the environment), for the database and services."""
    from client_app.app import create_app

    return create_app(migrate=False)


@celery_app.task(name="client_app.run_etl")
def run_etl(job_id: int) -> None:
    from client_app.etl import services

    with flask_app().app_context():
        services.execute(job_id)


@celery_app.task(name="client_app.run_training")
def run_training(job_id: int) -> None:
    from client_app.training import services

    with flask_app().app_context():
        services.execute(job_id)


@celery_app.task(name="client_app.schedule_tick")
def schedule_tick() -> None:
    """Every minute: start the ETL when its cron schedule came due, and scheduled retraining."""
    from client_app.etl import services as etl
    from client_app.training import services as training

    with flask_app().app_context():
        etl.tick()
        training.tick()
