"""The client app's Celery path over a real Redis (what Memorystore is on GCP): the web app queues an ETL run,
the message waits in Redis until a worker process starts, the worker runs the ETL against the client's source,
and the web side reads the finished run. Redis database 11 of the machine's server, flushed first."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import redis

from b2brec.datagen import GeneratorConfig, generate
from b2brec.projects.local import LocalClientProject
from b2brec.settings import Settings
from client_app import create_app
from client_app.config import AppConfig
from client_app.runner import worker_command
from tests.client_app.conftest import dispose, sign_in
from tests.redis_servers import LOCAL_REDIS, local_redis_url

pytestmark = [pytest.mark.services, pytest.mark.slow]
DB = 11


def test_an_etl_run_queued_by_the_web_app_is_run_by_a_worker_over_redis(
    project: LocalClientProject, settings: Settings, postgres_url: str, tmp_path: Path
) -> None:
    broker = local_redis_url(DB)
    generate(GeneratorConfig(transactions=1000, seed=5), f"sqlite:///{project.uploads_dir / 'demo-erp.sqlite'}")
    config = AppConfig(client=project.project_id, database_url=postgres_url, broker_url=broker, secure_cookies=False)
    app = create_app(config, settings)
    with app.app_context():
        from client_app.auth.services import create_user

        create_user("member@example.com", "M", "member", "correct-horse-battery")
    client = app.test_client()
    token = sign_in(client, "member@example.com", "correct-horse-battery")
    queued = client.post("/etl/api/run", json={}, headers={"X-CSRFToken": token})
    assert queued.status_code == 202, queued.get_data(as_text=True)
    job_id = queued.get_json()["data"]["id"]

    server = redis.Redis(*LOCAL_REDIS, db=DB)
    try:
        assert server.llen("celery") == 1, "the task message waits in Redis for a worker"
        env = {
            "B2BREC_HOME": str(settings.home),
            "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir),
            "B2BREC_APP_CLIENT": project.project_id,
            "B2BREC_APP_DATABASE_URL": postgres_url,
            "B2BREC_APP_BROKER_URL": broker,
            "B2BREC_APP_SECURE_COOKIES": "0",
        }
        log = tmp_path / "worker.log"
        with open(log, "wb") as out:
            worker = subprocess.Popen(
                worker_command(concurrency=1), env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + 240
            while True:
                job = client.get(f"/etl/api/jobs/{job_id}").get_json()["data"]
                if job["status"] in ("succeeded", "failed"):
                    break
                assert worker.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"{job}\n{log.read_text()[-3000:]}"
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
        dispose(app)
    assert job["status"] == "succeeded", f"{job}\n{log.read_text()[-3000:]}"
    tables = {t["table"]: t for t in job["progress"]["tables"]}
    assert tables["transactions"]["rows_written"] == 1000, job
    output = log.read_text()
    assert "Connected to redis://" in output and f"@127.0.0.1:6379/{DB}" in output, "the worker's broker was Redis"
