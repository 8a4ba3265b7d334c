"""Pipeline job boundary: a local subprocess, or a Vertex AI CustomJob.

A job is a Python module entrypoint plus arguments (URIs and options): exactly what a
Vertex AI CustomJob runs in the trainer image, and what the subprocess runner runs here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from b2brec.errors import B2BRecError
from b2brec.processes import alive, keep


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        return self in {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}


@dataclass(frozen=True, kw_only=True)
class MachineSpec:
    machine_type: str = "n1-standard-8"
    accelerator_type: str | None = None
    accelerator_count: int = 0
    replica_count: int = 1


@dataclass(frozen=True, kw_only=True)
class DnsPeering:
    """A DNS domain a Vertex AI job resolves through a VPC's Cloud DNS (over its PSC interface)."""

    domain: str
    """Ends with a dot: ``run.app.``."""
    network: str
    """Name of the VPC whose private zones answer for ``domain``."""
    project: str | None = None
    """Project of that VPC; None = the project the job runs in."""


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """One pipeline stage run: ``python -m {module} {args...}``."""

    name: str
    module: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    machine: MachineSpec = field(default_factory=MachineSpec)


@dataclass(frozen=True, kw_only=True)
class JobStatus:
    job_id: str
    state: JobState
    message: str = ""
    started_at: str | None = None
    """When the job started running (ISO 8601, UTC), if the runner knows."""
    ended_at: str | None = None
    """When it ended (ISO 8601, UTC), if it has and the runner knows."""


class JobError(B2BRecError):
    code = "job_error"


class JobRunner(Protocol):
    def submit(self, spec: JobSpec) -> str: ...

    def status(self, job_id: str) -> JobStatus: ...

    def cancel(self, job_id: str) -> None: ...

    def find(self, name: str) -> str | None:
        """The id of the newest job submitted as ``name`` (``JobSpec.name``), or None. Lets a driver
        that crashed between submitting a job and recording its id adopt the job instead of
        submitting a second one."""
        ...


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(value: Any) -> str | None:
    """A protobuf timestamp (proto-plus datetime) as ISO 8601 UTC; None when unset."""
    if value is None or not getattr(value, "year", 0) or value.year < 1971:
        return None
    return value.astimezone(UTC).isoformat() if value.tzinfo else value.replace(tzinfo=UTC).isoformat()


def wait(runner: JobRunner, job_id: str, *, timeout: float = 3600.0, poll: float = 0.5) -> JobStatus:
    """Poll ``runner`` until the job ends or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        status = runner.status(job_id)
        if status.state.done:
            return status
        if time.monotonic() > deadline:
            raise JobError(f"job {job_id} still {status.state.value} after {timeout:.0f}s")
        time.sleep(poll)


class SubprocessJobRunner:
    """Runs each job as a detached subprocess; state lives in ``jobs_dir/{job_id}/`` so any
    process (CLI, Celery worker, web app) can poll it."""

    def __init__(self, jobs_dir: Path, *, env: dict[str, str] | None = None) -> None:
        """``env``: set for every job (under each JobSpec's own env), over this process's environment."""
        self.jobs_dir = Path(jobs_dir)
        self.env = dict(env or {})

    def _dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def submit(self, spec: JobSpec) -> str:
        job_id = f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        job_dir = self._dir(job_id)
        job_dir.mkdir(parents=True)
        (job_dir / "job.json").write_text(json.dumps(asdict(spec), indent=2))
        (job_dir / "started_at").write_text(_utc_now())
        env = {**os.environ, **self.env, **spec.env}
        command = [sys.executable, "-m", "b2brec.backends.job_wrapper", str(job_dir), spec.module, *spec.args]
        with open(job_dir / "output.log", "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        (job_dir / "pid").write_text(str(process.pid))
        keep(process)  # reaped by alive() when it ends; other processes poll by the files
        return job_id

    def status(self, job_id: str) -> JobStatus:
        job_dir = self._dir(job_id)
        if not job_dir.is_dir():
            raise JobError(f"unknown job {job_id}")
        started = self._stamp(job_dir / "started_at")
        rc_file = job_dir / "exit_code"
        pid = int((job_dir / "pid").read_text()) if (job_dir / "pid").exists() else None
        if pid is not None:
            alive(pid)  # reaps a job this process started once it has ended
        if rc_file.exists():
            code = int(rc_file.read_text().strip())
            ended = self._stamp(job_dir / "ended_at")
            if code == 0:
                return JobStatus(job_id=job_id, state=JobState.SUCCEEDED, started_at=started, ended_at=ended)
            state = JobState.CANCELLED if (job_dir / "cancelled").exists() else JobState.FAILED
            return JobStatus(job_id=job_id, state=state, message=self._tail(job_id), started_at=started, ended_at=ended)
        if pid is not None and not alive(pid):
            state = JobState.CANCELLED if (job_dir / "cancelled").exists() else JobState.FAILED
            message = "cancelled" if state is JobState.CANCELLED else "process died without an exit code"
            return JobStatus(job_id=job_id, state=state, message=message, started_at=started)
        return JobStatus(job_id=job_id, state=JobState.RUNNING, started_at=started)

    @staticmethod
    def _stamp(path: Path) -> str | None:
        return path.read_text().strip() if path.exists() else None

    def find(self, name: str) -> str | None:
        if not self.jobs_dir.is_dir():
            return None
        found = [
            d.name
            for d in self.jobs_dir.glob(f"{name}-*")
            if (d / "job.json").exists() and json.loads((d / "job.json").read_text()).get("name") == name
        ]
        return max(found, key=lambda j: (self._dir(j) / "job.json").stat().st_mtime_ns) if found else None

    def logs(self, job_id: str) -> str:
        path = self._dir(job_id) / "output.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _tail(self, job_id: str, lines: int = 20) -> str:
        return "\n".join(self.logs(job_id).splitlines()[-lines:])

    def cancel(self, job_id: str) -> None:
        pid_file = self._dir(job_id) / "pid"
        if pid_file.exists():
            (self._dir(job_id) / "cancelled").touch()
            try:
                os.killpg(int(pid_file.read_text()), 15)
            except ProcessLookupError:
                pass


_VERTEX_STATES = {
    "JOB_STATE_SUCCEEDED": JobState.SUCCEEDED,
    "JOB_STATE_FAILED": JobState.FAILED,
    "JOB_STATE_CANCELLED": JobState.CANCELLED,
    "JOB_STATE_CANCELLING": JobState.RUNNING,
    "JOB_STATE_RUNNING": JobState.RUNNING,
    "JOB_STATE_QUEUED": JobState.PENDING,
    "JOB_STATE_PENDING": JobState.PENDING,
}


class VertexJobRunner:
    """Vertex AI CustomJob with the trainer image; a thin wrapper over ``google-cloud-aiplatform``."""

    def __init__(
        self,
        *,
        project: str,
        region: str,
        image_uri: str,
        staging_bucket: str,
        service_account: str | None = None,
        labels: dict[str, str] | None = None,
        spot: bool = False,
        network_attachment: str | None = None,
        dns_peering: tuple[DnsPeering, ...] = (),
        client: Any = None,
    ) -> None:
        self.project = project
        self.region = region
        self.image_uri = image_uri
        self.staging_bucket = staging_bucket
        self.service_account = service_account
        self.labels = labels or {}
        self.spot = spot
        self.network_attachment = network_attachment
        if dns_peering and not network_attachment:
            raise JobError("DNS peering for Vertex AI jobs needs a network attachment (their PSC interface)")
        self.dns_peering = dns_peering
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import aiplatform_v1

            self._client = aiplatform_v1.JobServiceClient(
                client_options={"api_endpoint": f"{self.region}-aiplatform.googleapis.com"}
            )
        return self._client

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def build_custom_job(self, spec: JobSpec) -> Any:
        """The CustomJob proto sent to Vertex AI for ``spec``."""
        from google.cloud import aiplatform_v1 as v1

        machine = v1.MachineSpec(machine_type=spec.machine.machine_type)
        if spec.machine.accelerator_type and spec.machine.accelerator_count:
            # a proto-plus enum is an IntEnum at run time; its stubbed metaclass hides __getitem__ from mypy
            machine.accelerator_type = v1.AcceleratorType[spec.machine.accelerator_type]  # type: ignore[misc]
            machine.accelerator_count = spec.machine.accelerator_count
        container = v1.ContainerSpec(
            image_uri=self.image_uri,
            command=["python", "-m", spec.module],
            args=list(spec.args),
            env=[v1.EnvVar(name=k, value=v) for k, v in sorted(spec.env.items())],
        )
        job_spec = v1.CustomJobSpec(
            worker_pool_specs=[
                v1.WorkerPoolSpec(
                    machine_spec=machine, replica_count=spec.machine.replica_count, container_spec=container
                )
            ],
            base_output_directory=v1.GcsDestination(output_uri_prefix=f"{self.staging_bucket}/jobs/{spec.name}"),
        )
        if self.service_account:
            job_spec.service_account = self.service_account
        if self.spot:
            # Spot VMs: Vertex AI restarts the job when the VM is preempted.
            job_spec.scheduling = v1.Scheduling(
                strategy=v1.Scheduling.Strategy.SPOT, restart_job_on_worker_restart=True
            )
        if self.network_attachment:
            # Private Service Connect interface into the client's VPC: the job reaches the internal MLflow service.
            # Its DNS peering makes MLflow's *.run.app name resolve in the VPC's private zone (the PSC endpoint
            # for Google APIs), without which an internal-ingress service answers 403/404 to the job.
            job_spec.psc_interface_config = v1.PscInterfaceConfig(
                network_attachment=self.network_attachment,
                dns_peering_configs=[
                    v1.DnsPeeringConfig(
                        domain=peering.domain,
                        target_project=peering.project or self.project,
                        target_network=peering.network,
                    )
                    for peering in self.dns_peering
                ],
            )
        return v1.CustomJob(display_name=spec.name, job_spec=job_spec, labels=self.labels)

    def submit(self, spec: JobSpec) -> str:
        job = self.client.create_custom_job(parent=self.parent, custom_job=self.build_custom_job(spec))
        return job.name

    def status(self, job_id: str) -> JobStatus:
        job = self.client.get_custom_job(name=job_id)
        state = _VERTEX_STATES.get(job.state.name, JobState.PENDING)
        message = job.error.message if state is JobState.FAILED else ""
        return JobStatus(
            job_id=job_id, state=state, message=message, started_at=_iso(job.start_time), ended_at=_iso(job.end_time)
        )

    def cancel(self, job_id: str) -> None:
        self.client.cancel_custom_job(name=job_id)

    def list_request(self, name: str) -> Any:
        """The ListCustomJobs request that finds jobs submitted as ``name``."""
        from google.cloud import aiplatform_v1 as v1

        return v1.ListCustomJobsRequest(parent=self.parent, filter=f'display_name="{name}"')

    def find(self, name: str) -> str | None:
        jobs = list(self.client.list_custom_jobs(request=self.list_request(name)))
        if not jobs:
            return None
        return max(jobs, key=lambda j: j.create_time).name
