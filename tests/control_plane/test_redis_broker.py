"""The control plane's Celery path over a real Redis (what Memorystore is on GCP): the app queues a provisioning
job (decommission a local client project), the message waits in Redis until the worker process
(``python -m control_plane.manage control-plane worker``, the worker pool's command) starts, the worker deletes
the project and the app reads the finished job. Redis database 12 of the machine's server, flushed first."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from b2brec.projects.local import create_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from control_plane.extensions import db
from control_plane.runtime import EXTENSION_KEY
from tests.control_plane.conftest import build_app
from tests.redis_servers import LOCAL_REDIS, local_redis_url

pytestmark = [pytest.mark.services, pytest.mark.slow]
DB = 12


def test_a_provisioning_job_queued_by_the_app_is_run_by_the_worker_over_redis(
    settings: Settings, tmp_path: Path
) -> None:
    from control_plane.clients import services as clients

    broker = local_redis_url(DB)
    spec = load_environment(settings.environments_dir, "demo-dev")
    project = create_project(spec, settings, environment="demo-dev")
    assert project.root.is_dir()
    app = build_app(settings, tmp_path, overrides={"celery_eager": False, "broker_url": broker})
    with app.app_context():
        client = clients.register_existing(spec, urls={})
        job_id = clients.queue_job(app.extensions[EXTENSION_KEY], client, "decommission", actor="admin@b2brec.test").id
    server = redis.Redis(*LOCAL_REDIS, db=DB)
    log = tmp_path / "worker.log"
    try:
        assert server.llen("celery") == 1, "the task message waits in Redis for a worker"
        env = {
            "B2BREC_HOME": str(settings.home),
            "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir),
            "B2BREC_CP_BROKER_URL": broker,
            "B2BREC_CP_SECURE_COOKIES": "0",
        }
        with open(log, "wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "control_plane.manage", "control-plane", "worker", "--no-beat"],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 180
            while True:
                with app.app_context():
                    job = clients.get_job(job_id)
                    status, error = job.status, job.error
                    db.session.remove()
                if status in ("succeeded", "failed"):
                    break
                assert worker.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"{status}\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
        assert server.llen("celery") == 0, "the worker took the message from Redis"
    finally:
        server.flushdb()
        server.close()
        with app.app_context():
            db.engine.dispose()
    assert status == "succeeded", f"{error}\n{log.read_text()[-3000:]}"
    with app.app_context():
        assert clients.get_client(spec.client_id).status == "decommissioned"
    assert not project.root.exists(), "the worker deleted the local client project"
    output = log.read_text()
    assert "Connected to redis://" in output and f"@127.0.0.1:6379/{DB}" in output, "the worker's broker was Redis"
