"""Job runner over a Cloud Run job (the client's scheduled ETL job): each submission is one
execution of the job, with the JobSpec's arguments and environment as overrides. It implements the
same ``JobRunner`` interface as the Vertex AI and subprocess runners, so the client app's Celery
tasks launch and poll an ETL run exactly as they do a training stage.

The job's image and entrypoint are fixed by the stack (``python -m b2brec.etl``); a JobSpec must
name a module this runner knows the job of. Tested by the requests it builds.
"""

from __future__ import annotations

from typing import Any

from b2brec.backends.jobs import JobError, JobSpec, JobState, JobStatus, _iso

JOB_NAME_ENV = "B2BREC_JOB_NAME"
"""Set on every execution (an env override), so ``find`` can recognise an execution by its JobSpec name."""

DEFAULT_JOBS = {"b2brec.etl": "etl"}
"""Entrypoint module -> Cloud Run job that runs it (``stacks/client_project.py`` names the ETL job ``etl``)."""

ETL_JOB_CPU, ETL_JOB_MEMORY = "1", "1Gi"
"""The ETL job's one task: the stack gives it these limits, and an ETL run records them as its machine."""
ETL_JOB_MACHINE = f"cloud-run-job:cpu={ETL_JOB_CPU},memory={ETL_JOB_MEMORY}"


class CloudRunJobRunner:
    def __init__(
        self,
        *,
        project: str,
        region: str,
        jobs: dict[str, str] | None = None,
        client: Any = None,
        executions: Any = None,
    ) -> None:
        self.project = project
        self.region = region
        self.jobs = dict(jobs or DEFAULT_JOBS)
        self._client = client
        self._executions = executions

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import run_v2

            self._client = run_v2.JobsClient()
        return self._client

    @property
    def executions(self) -> Any:
        if self._executions is None:
            from google.cloud import run_v2

            self._executions = run_v2.ExecutionsClient()
        return self._executions

    def job_path(self, module: str) -> str:
        if module not in self.jobs:
            raise JobError(
                f"no Cloud Run job runs {module!r} (known: {', '.join(sorted(self.jobs))}); "
                "pipeline stages run on Vertex AI instead"
            )
        return f"projects/{self.project}/locations/{self.region}/jobs/{self.jobs[module]}"

    def build_request(self, spec: JobSpec) -> Any:
        """The RunJobRequest sent for ``spec``: its args and env as a container override."""
        from google.cloud import run_v2

        env = {**spec.env, JOB_NAME_ENV: spec.name}
        override = run_v2.RunJobRequest.Overrides.ContainerOverride(
            args=list(spec.args),
            clear_args=not spec.args,
            env=[run_v2.EnvVar(name=k, value=v) for k, v in sorted(env.items())],
        )
        return run_v2.RunJobRequest(
            name=self.job_path(spec.module),
            overrides=run_v2.RunJobRequest.Overrides(container_overrides=[override], task_count=1),
        )

    def submit(self, spec: JobSpec) -> str:
        operation = self.client.run_job(request=self.build_request(spec))
        return str(operation.metadata.name)

    def status(self, job_id: str) -> JobStatus:
        execution = self.executions.get_execution(name=job_id)
        started, ended = _iso(execution.start_time), _iso(execution.completion_time)
        if ended is None:
            state = JobState.RUNNING if started or execution.running_count else JobState.PENDING
            return JobStatus(job_id=job_id, state=state, started_at=started)
        if execution.cancelled_count:
            state, message = JobState.CANCELLED, "cancelled"
        elif execution.failed_count or execution.succeeded_count < max(execution.task_count, 1):
            failed = [c.message for c in execution.conditions if c.message]
            state, message = JobState.FAILED, (failed[-1] if failed else "the execution failed; see its log_uri")
        else:
            state, message = JobState.SUCCEEDED, ""
        return JobStatus(job_id=job_id, state=state, message=message, started_at=started, ended_at=ended)

    def cancel(self, job_id: str) -> None:
        self.executions.cancel_execution(name=job_id)

    def find(self, name: str) -> str | None:
        for module in self.jobs:
            for execution in self.executions.list_executions(parent=self.job_path(module)):
                for container in execution.template.containers:
                    if any(e.name == JOB_NAME_ENV and e.value == name for e in container.env):
                        return str(execution.name)
        return None
