"""A Celery worker killed in the middle of a training run leaves a run the UI shows as stalled and
resumes: the next worker adopts the stage job that was running (not started a second time) and
drives the run to its end. Real worker processes (SQLite broker), real pipeline jobs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from flask import Flask

from b2brec.context import context_for_spec
from b2brec.projects.local import LocalClientProject
from b2brec.settings import Settings
from client_app import create_app
from client_app.config import AppConfig
from client_app.runner import worker_command
from tests.client_app.conftest import dispose, sign_in
from trainer import runs
from trainer.run_context import context_for

pytestmark = [pytest.mark.slow, pytest.mark.services]


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as handle:
        return subprocess.Popen(
            worker_command(concurrency=1),
            env={**os.environ, **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stage(project: LocalClientProject, settings: Settings, run_id: str, name: str) -> runs.StageRecord:
    return runs.load_run(context_for(context_for_spec(project.spec, settings)), run_id).stage(name)


def test_killed_worker_leaves_a_stalled_run_that_resumes_from_the_ui(
    project: LocalClientProject, settings: Settings, postgres_url: str, tmp_path: Path
) -> None:
    config = AppConfig(client=project.project_id, database_url=postgres_url, secure_cookies=False, stall_after_s=4)
    app: Flask = create_app(config, settings)
    with app.app_context():
        from client_app.auth.services import create_user

        create_user("member@example.com", "M", "member", "correct-horse-battery")
    env = {
        "B2BREC_HOME": str(settings.home),
        "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir),
        "B2BREC_APP_CLIENT": project.project_id,
        "B2BREC_APP_DATABASE_URL": postgres_url,
        "B2BREC_APP_SECURE_COOKIES": "0",
    }
    client = app.test_client()
    token = sign_in(client, "member@example.com", "correct-horse-battery")
    form = {"epochs": "1", "window_days": "30", "test_days": "7", "embedding_dim": "16", "batch_size": "64"}
    first = _worker(env, tmp_path / "worker-1.log")
    try:
        response = client.post("/training/", data={**form, "csrf_token": token})
        job_path = response.headers["Location"]
        page = client.get(job_path).get_data(as_text=True)
        run_id = re.search(r'<span class="muted">(\d{8}-\d{6}-[0-9a-f]{4})</span>', page).group(1)
        deadline = time.monotonic() + 300
        while _stage(project, settings, run_id, "vocab").status.value != "running":
            assert time.monotonic() < deadline, "the worker never got to the vocab stage"
            time.sleep(0.3)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the worker dies mid-run; the vocab job keeps running
        first.wait(timeout=30)
    running_job = _stage(project, settings, run_id, "vocab").job
    assert running_job is not None and running_job.job_id

    time.sleep(5)  # longer than stall_after_s without a heartbeat
    page = client.get(job_path).get_data(as_text=True)
    assert 'data-status="stalled"' in page and "Press Resume" in page

    second = _worker(env, tmp_path / "worker-2.log")
    try:
        assert client.post(f"{job_path}/resume", data={"csrf_token": token}).status_code == 302
        deadline = time.monotonic() + 900
        while True:
            fragment = client.get(f"{job_path}/fragment").get_data(as_text=True)
            status = re.search(r'data-status="([a-z_]+)"', fragment).group(1)
            if status in ("succeeded", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, fragment
            time.sleep(1)
    finally:
        second.terminate()
        second.wait(timeout=30)
    dispose(app)
    assert status == "succeeded", fragment
    vocab = _stage(project, settings, run_id, "vocab")
    assert vocab.attempt == 1 and vocab.job is not None and vocab.job.job_id == running_job.job_id  # adopted
    assert vocab.earlier_jobs == []
