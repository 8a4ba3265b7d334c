"""The GCP job runners, tested by the requests they build and how they read Google's answers:
an ETL run is one execution of the client's Cloud Run job (args and env as overrides); Vertex AI
jobs carry their start/end times back for metering; a job is found again by its name."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.cloud import aiplatform_v1, run_v2
from google.protobuf import timestamp_pb2

from b2brec.backends.cloud_run_jobs import ETL_JOB_MACHINE, JOB_NAME_ENV, CloudRunJobRunner
from b2brec.backends.factory import backends_for
from b2brec.backends.jobs import JobSpec, JobState, MachineSpec, VertexJobRunner
from b2brec.etl.__main__ import SPEC_ENV
from b2brec.etl.jobs import etl_job_spec
from b2brec.settings import Backend, Settings
from b2brec.spec import load_environment, parse_spec


def _ts(text: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(text))
    return stamp


@dataclass
class Operation:
    metadata: run_v2.Execution


@dataclass
class RecordingRun:
    """Stands in for run_v2.JobsClient / ExecutionsClient: records each call, answers from ``executions``."""

    executions: dict[str, run_v2.Execution] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def run_job(self, request: run_v2.RunJobRequest) -> Operation:
        self.calls.append(("run_job", request))
        name = f"{request.name}/executions/etl-x{len(self.executions) + 1}"
        (override,) = request.overrides.container_overrides
        template = run_v2.TaskTemplate(containers=[run_v2.Container(env=list(override.env))])
        self.executions[name] = run_v2.Execution(name=name, template=template, task_count=1)
        return Operation(metadata=self.executions[name])

    def get_execution(self, name: str) -> run_v2.Execution:
        self.calls.append(("get_execution", name))
        return self.executions[name]

    def cancel_execution(self, name: str) -> None:
        self.calls.append(("cancel_execution", name))

    def list_executions(self, parent: str) -> list[run_v2.Execution]:
        self.calls.append(("list_executions", parent))
        return [e for n, e in self.executions.items() if n.startswith(parent)]


def test_etl_runs_as_an_execution_of_the_clients_cloud_run_job(settings: Settings) -> None:
    spec = load_environment(settings.environments_dir, "nordhandel-prod")
    fake = RecordingRun()
    runner = CloudRunJobRunner(project=spec.project_id, region=spec.region, client=fake, executions=fake)
    job_spec = etl_job_spec(spec, full_refresh=True, tables=["transactions"])

    execution = runner.submit(job_spec)
    (call, request) = fake.calls[0]
    assert call == "run_job"
    assert request.name == f"projects/{spec.project_id}/locations/{spec.region}/jobs/etl"
    (override,) = request.overrides.container_overrides
    assert list(override.args) == ["--full-refresh", "--table", "transactions"]
    env = {e.name: e.value for e in override.env}
    assert parse_spec(json.loads(env[SPEC_ENV]), origin="override") == spec  # the job's entrypoint reads it
    assert env[JOB_NAME_ENV] == job_spec.name and request.overrides.task_count == 1

    assert runner.status(execution).state is JobState.PENDING
    fake.executions[execution].start_time = _ts("2026-11-30T08:00:00+00:00")
    fake.executions[execution].running_count = 1
    assert runner.status(execution).state is JobState.RUNNING
    fake.executions[execution].completion_time = _ts("2026-11-30T08:04:30+00:00")
    fake.executions[execution].succeeded_count = 1
    done = runner.status(execution)
    assert done.state is JobState.SUCCEEDED
    assert (done.started_at, done.ended_at) == ("2026-11-30T08:00:00+00:00", "2026-11-30T08:04:30+00:00")

    failed = runner.submit(etl_job_spec(spec))
    fake.executions[failed].completion_time = _ts("2026-11-30T09:00:00+00:00")
    fake.executions[failed].failed_count = 1
    fake.executions[failed].conditions = [run_v2.Condition(message="Task etl-x2-0 failed: exit 2")]
    status = runner.status(failed)
    assert status.state is JobState.FAILED and "exit 2" in status.message
    (_, second) = [c for c in fake.calls if c[0] == "run_job"][1]
    assert second.overrides.container_overrides[0].clear_args  # no args: the job's own (none) are cleared

    runner.cancel(failed)
    assert fake.calls[-1] == ("cancel_execution", failed)
    assert runner.find(job_spec.name) == execution  # a driver that crashed after submitting adopts it
    assert runner.find("etl-never") is None


def test_gcp_backends_launch_etl_through_cloud_run_and_stages_through_vertex(settings: Settings) -> None:
    gcp = settings.model_copy(update={"backend": Backend.GCP})
    spec = load_environment(settings.environments_dir, "nordhandel-prod")
    backends = backends_for(spec, gcp)
    assert isinstance(backends.etl_jobs, CloudRunJobRunner)
    assert backends.etl_machine == MachineSpec(machine_type=ETL_JOB_MACHINE)  # what an ETL run records
    assert backends.etl_jobs.job_path("b2brec.etl").endswith(f"{spec.project_id}/locations/{spec.region}/jobs/etl")


def test_vertex_reports_times_and_finds_a_job_by_name() -> None:
    runner = VertexJobRunner(project="p", region="europe-west4", image_uri="img", staging_bucket="gs://s")
    request = runner.list_request("train-r1-a1")
    assert request.parent == "projects/p/locations/europe-west4"
    assert request.filter == 'display_name="train-r1-a1"'

    class Jobs:
        def get_custom_job(self, name: str) -> aiplatform_v1.CustomJob:
            return aiplatform_v1.CustomJob(
                name=name,
                state=aiplatform_v1.JobState.JOB_STATE_SUCCEEDED,
                start_time=_ts("2026-11-30T08:00:00+00:00"),
                end_time=_ts("2026-11-30T09:30:00+00:00"),
            )

    runner._client = Jobs()
    status = runner.status("projects/p/locations/europe-west4/customJobs/1")
    assert status.state is JobState.SUCCEEDED
    assert (status.started_at, status.ended_at) == ("2026-11-30T08:00:00+00:00", "2026-11-30T09:30:00+00:00")
    assert datetime.fromisoformat(status.ended_at).tzinfo == UTC
    assert JobSpec(name="x", module="m").machine.machine_type == "n1-standard-8"
