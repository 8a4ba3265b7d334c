"""What the platform does inside a client's project from outside it (the control plane's create job):
store the client's source password among its secrets and run its first ETL load.

- Embedded default: the local project's secret store, and the load run in-process.
- Google Cloud: Secret Manager of the client's project, and an execution of the client's Cloud Run
  ``etl`` job (``jobs/etl:run``, then the execution polled until it ends), both called as the
  platform's deployer (impersonated, ``B2BREC_CP_TERRAFORM_IMPERSONATE``): the control plane's own
  account holds no role in client projects, the deployer that created them does.

Built by :func:`b2brec.backends.factory.client_admin`; tests hand in anonymous credentials and a local
HTTP endpoint and check what is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from b2brec.backends.cloud_run_jobs import CloudRunJobRunner
from b2brec.backends.jobs import JobState
from b2brec.backends.secrets import SecretManagerStore, SecretStore, check_secret_name
from b2brec.errors import B2BRecError
from b2brec.spec import ClientSpec

Log = Callable[[str], None]
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class LoadFailed(B2BRecError):
    code = "first_load_failed"


class ClientAdmin(Protocol):
    @property
    def secrets(self) -> SecretStore:
        """The client's own secrets (written, never read back into the control plane's logs)."""
        ...

    def load(self, log: Log) -> str:
        """Run one ETL load of the client to the end; returns what it did in one line. Raises on failure."""
        ...


class LocalClientAdmin:
    """The local client project: its encrypted secret store, the load run in this process."""

    def __init__(self, spec: ClientSpec, settings: Any, secrets: Callable[[], SecretStore]) -> None:
        self.spec, self.settings, self._secrets = spec, settings, secrets

    @property
    def secrets(self) -> SecretStore:
        """The project's store, opened on first use (the project exists once provisioning made it)."""
        return self._secrets()

    def load(self, log: Log) -> str:
        from b2brec.context import context_for_spec  # the ETL sits above the backends
        from b2brec.etl import run_etl

        summary = run_etl(context_for_spec(self.spec, self.settings))
        rows = sum(t.rows_written for t in summary.tables)
        return f"{rows} rows into raw_data ({summary.duration_seconds:.1f}s)"


class CreatingSecretStore(SecretManagerStore):
    """Secret Manager that creates a missing secret (automatic replication, the client's labels) before
    adding the first version: the client stack declares the source password's secret, but a source
    added after the last apply would not have one yet."""

    def __init__(self, project: str, *, labels: dict[str, str], client: Any = None) -> None:
        super().__init__(project, client=client)
        self.labels = labels

    def put(self, name: str, value: str) -> None:
        from google.api_core.exceptions import NotFound
        from google.cloud import secretmanager

        try:
            super().put(name, value)
            return
        except NotFound:
            pass
        self.client.create_secret(
            request=secretmanager.CreateSecretRequest(
                parent=f"projects/{self.project}",
                secret_id=check_secret_name(name),
                secret=secretmanager.Secret(
                    replication=secretmanager.Replication(automatic=secretmanager.Replication.Automatic()),
                    labels=self.labels,
                ),
            )
        )
        super().put(name, value)


@dataclass
class CloudRunLoad:
    """One execution of the client's Cloud Run ``etl`` job, polled until it ends."""

    runner: CloudRunJobRunner
    spec: ClientSpec
    poll_seconds: float = 10.0
    timeout_seconds: float = 6 * 3600

    def run(self, log: Log) -> str:
        from b2brec.etl.jobs import submit_etl  # the ETL sits above the backends

        job = self.runner.job_path("b2brec.etl")
        try:
            execution = submit_etl(self.runner, self.spec)
        except Exception as exc:  # noqa: BLE001 - an API error, reported with what to check
            raise LoadFailed(
                f"could not start the Cloud Run job {job}: {_api_message(exc)}",
                fix="check that the client's stack is applied and the deployer may run its jobs (roles/run.developer)",
            ) from None
        log(f"started execution {execution.rsplit('/', 1)[-1]} of {job}")
        deadline = time.monotonic() + self.timeout_seconds
        last = None
        while True:
            status = self.runner.status(execution)
            if status.state is not last:
                log(f"execution {execution.rsplit('/', 1)[-1]}: {status.state.value}")
                last = status.state
            if status.state.done:
                break
            if time.monotonic() > deadline:
                raise LoadFailed(
                    f"the ETL execution {execution} still runs after {self.timeout_seconds:.0f}s",
                    fix=f"see its log: {self._log_uri(execution)}",
                )
            time.sleep(self.poll_seconds)
        if status.state is not JobState.SUCCEEDED:
            raise LoadFailed(
                f"the ETL execution {execution} {status.state.value}: {status.message}",
                fix=f"read the execution's log at {self._log_uri(execution)}, correct the cause, then resume the job",
            )
        return f"execution {execution.rsplit('/', 1)[-1]} of {job} succeeded"

    def _log_uri(self, execution: str) -> str:
        try:
            uri = str(self.runner.executions.get_execution(name=execution).log_uri)
        except Exception:  # noqa: BLE001 - the message names the execution either way
            uri = ""
        return uri or f"the Cloud Run console (execution {execution})"


def _api_message(exc: Exception) -> str:
    return str(getattr(exc, "message", "") or exc)[:300]


class CloudClientAdmin:
    """The client's project on Google Cloud, called with the deployer's (impersonated) credentials."""

    def __init__(self, secrets: SecretStore, load: CloudRunLoad) -> None:
        self.secrets = secrets
        self._load = load

    def load(self, log: Log) -> str:
        return self._load.run(log)


def deployer_credentials(impersonate: str | None) -> Any:
    """The ambient credentials, acting as ``impersonate`` when set (the app's account may only impersonate it)."""
    import google.auth
    from google.auth import impersonated_credentials

    source, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    if not impersonate:
        return source
    return impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=source, target_principal=impersonate, target_scopes=[CLOUD_PLATFORM_SCOPE]
    )


def cloud_client_admin(
    spec: ClientSpec,
    *,
    credentials: Any,
    endpoint: str | None = None,
    poll_seconds: float = 10.0,
) -> CloudClientAdmin:
    """``endpoint``: one base URL for both APIs (tests: a local recorder); unset = Google's endpoints (REST)."""
    from google.cloud import run_v2, secretmanager

    def options(default: str) -> dict[str, str]:
        return {"api_endpoint": endpoint or default}

    secrets_client = secretmanager.SecretManagerServiceClient(
        credentials=credentials, transport="rest", client_options=options("secretmanager.googleapis.com")
    )
    run_options = options(f"{spec.region}-run.googleapis.com")
    runner = CloudRunJobRunner(
        project=spec.project_id,
        region=spec.region,
        client=run_v2.JobsClient(credentials=credentials, transport="rest", client_options=run_options),
        executions=run_v2.ExecutionsClient(credentials=credentials, transport="rest", client_options=run_options),
    )
    secrets = CreatingSecretStore(spec.project_id, labels=dict(spec.all_labels), client=secrets_client)
    return CloudClientAdmin(secrets, CloudRunLoad(runner, spec, poll_seconds=poll_seconds))
