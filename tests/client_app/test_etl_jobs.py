"""The client app's ETL runs go through the client's ETL job runner (``b2brec.etl.jobs``), not inside the
worker: locally a real subprocess job end to end; on GCP an execution of the client's Cloud Run ``etl``
job, checked by the request sent. The job row records the execution (id, start, end, machine), the
progress the job reported, and its outcome; a failed load keeps its code and fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Flask
from google.cloud import run_v2

from b2brec.backends.cloud_run_jobs import JOB_NAME_ENV, CloudRunJobRunner
from b2brec.datagen import GeneratorConfig, generate
from b2brec.etl import list_runs
from b2brec.etl.jobs import read_outcome, read_progress
from b2brec.projects.local import LocalClientProject
from b2brec.settings import Settings
from b2brec.spec import SPEC_ENV, parse_spec
from client_app import jobs
from client_app.client import current_client
from client_app.etl import services
from client_app.extensions import db
from client_app.models import Job
from tests.core.test_job_runners_gcp import RecordingRun, _ts

ROWS = 1000


def _source(project: LocalClientProject) -> None:
    generate(GeneratorConfig(transactions=ROWS, seed=5), f"sqlite:///{project.uploads_dir / 'demo-erp.sqlite'}")


def _run(app: Flask) -> Job:
    with app.app_context():
        job = jobs.create("etl", "member@example.com", options={"full_refresh": False})
        db.session.commit()
        services.execute(job.id)
        db.session.expire_all()
        return db.session.get(Job, job.id)


def test_an_etl_run_is_a_subprocess_job_that_reports_progress_and_its_execution(
    app: Flask, project: LocalClientProject
) -> None:
    _source(project)
    started = datetime.now(UTC)
    job = _run(app)
    assert job.status == "succeeded", (job.message, job.error_code)
    tables = {t["table"]: t for t in job.progress["tables"]}
    assert tables["transactions"]["rows_written"] == ROWS
    written = sum(t["rows_written"] for t in tables.values())
    assert job.message.startswith(f"{written:,} rows read, {written:,} written in ")
    execution = job.progress["execution"]
    job_dir = project.root / "jobs" / execution["job_id"]  # the subprocess runner's own record of the job
    assert json.loads((job_dir / "job.json").read_text())["module"] == "b2brec.etl"
    assert execution["name"] == f"etl-{job.run_id}" and execution["state"] == "succeeded"
    assert started <= datetime.fromisoformat(execution["started_at"]) <= datetime.fromisoformat(execution["ended_at"])
    assert execution["machine_type"] == "n1-standard-8" and execution["accelerator_count"] == 0
    # the run is the one the warehouse recorded, and the job left its last event and outcome in the data bucket
    assert list_runs(project.warehouse())[0]["run_id"] == job.run_id
    data = project.storage("data")
    assert read_outcome(data, job.run_id)["status"] == "succeeded"
    last = read_progress(data, job.run_id)
    assert last is not None and (last.stage, last.kind) == ("etl", "done") and last.done == written


def test_a_failed_etl_job_keeps_its_code_and_fix(app: Flask, project: LocalClientProject) -> None:
    job = _run(app)  # no source file uploaded
    assert job.status == "failed"
    assert job.error_code == "missing_file" and job.error_fix, (job.message, job.error_code)
    assert job.progress["execution"]["state"] == "failed"


@dataclass
class CloudRunExecutingLocally(RecordingRun):
    """Answers like Cloud Run: each RunJobRequest becomes an execution that runs what the job's container
    would (``python -m b2brec.etl`` with the request's args and env overrides); it ends when that does."""

    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run_job(self, request: run_v2.RunJobRequest) -> object:
        operation = super().run_job(request)
        name = operation.metadata.name
        (override,) = request.overrides.container_overrides
        env = {**self.env, **{e.name: e.value for e in override.env}}
        argv = [sys.executable, "-m", "b2brec.etl", *override.args]
        self.processes[name] = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.executions[name].start_time = _ts(datetime.now(UTC).isoformat())
        self.executions[name].running_count = 1
        return operation

    def get_execution(self, name: str) -> run_v2.Execution:
        execution = super().get_execution(name)
        code = self.processes[name].poll()
        if code is not None and not execution.running_count == 0:
            execution.running_count = 0
            execution.completion_time = _ts(datetime.now(UTC).isoformat())
            if code == 0:
                execution.succeeded_count = 1
            else:
                execution.failed_count = 1
        return execution


def test_on_gcp_the_run_is_an_execution_of_the_clients_cloud_run_etl_job(
    app: Flask, project: LocalClientProject, settings: Settings
) -> None:
    _source(project)
    env = {**os.environ, "B2BREC_HOME": str(settings.home), "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir)}
    cloud_run = CloudRunExecutingLocally(env=env)
    spec = project.spec
    with app.app_context():
        runner = CloudRunJobRunner(project=spec.project_id, region=spec.region, client=cloud_run, executions=cloud_run)
        current_client().backends.__dict__["etl_jobs"] = runner  # what ClientBackends.etl_jobs is on GCP
    job = _run(app)
    assert job.status == "succeeded", (job.message, job.error_code)

    (request,) = [r for call, r in cloud_run.calls if call == "run_job"]
    assert request.name == f"projects/{spec.project_id}/locations/{spec.region}/jobs/etl"
    (override,) = request.overrides.container_overrides
    assert list(override.args) == ["--run-id", job.run_id]
    sent = {e.name: e.value for e in override.env}
    assert parse_spec(json.loads(sent[SPEC_ENV]), origin="override") == spec
    assert sent[JOB_NAME_ENV] == f"etl-{job.run_id}"

    execution = job.progress["execution"]
    cloud = cloud_run.executions[execution["job_id"]]
    assert execution["job_id"].startswith(request.name + "/executions/")
    assert execution["started_at"] == cloud.start_time.isoformat()
    assert execution["ended_at"] == cloud.completion_time.isoformat()
    assert {t["table"]: t for t in job.progress["tables"]}["transactions"]["rows_written"] == ROWS
