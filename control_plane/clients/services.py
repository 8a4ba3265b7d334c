"""Client registry logic: provisioning jobs (create, apply a version, decommission) that are
idempotent and resumable, and what the detail page shows about a client."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
import yaml

from b2brec.errors import B2BRecError
from b2brec.etl.history import list_runs as etl_runs
from b2brec.progress import ProgressEvent
from b2brec.projects.local import open_project
from b2brec.spec import ClientSpec, parse_spec
from control_plane.audit import services as audit
from control_plane.clients.models import Client, ClientStatus, JobStatus, ProvisioningJob
from control_plane.errors import ControlPlaneError
from control_plane.extensions import db
from control_plane.onboarding.services import SOURCE_NAME, password_secret_name
from control_plane.runtime import Runtime
from control_plane.timeutil import utcnow

JOB_STEPS: dict[str, tuple[str, ...]] = {
    "create": ("provision", "secrets", "first_etl", "activate"),
    "apply_version": ("apply", "record"),
    "decommission": ("delete", "mark"),
}


def list_clients(*, include_decommissioned: bool = False) -> list[Client]:
    query = sa.select(Client).order_by(Client.client_id)
    if not include_decommissioned:
        query = query.where(Client.status != ClientStatus.DECOMMISSIONED.value)
    return list(db.session.scalars(query))


def get_client(client_id: str) -> Client:
    client = db.session.scalar(sa.select(Client).where(Client.client_id == client_id))
    if client is None:
        raise ControlPlaneError(
            f"no client {client_id[:60]!r}", code="not_found", fix="pick a client from the clients list"
        )
    return client


def client_spec(client: Client) -> ClientSpec:
    return parse_spec(yaml.safe_load(client.spec_yaml), origin=f"control plane client {client.client_id}")


def register_existing(
    spec: ClientSpec, *, status: str = ClientStatus.ACTIVE.value, urls: dict[str, str] | None = None
) -> Client:
    """Register a client whose project already exists (the demo client, imports); idempotent."""
    client = db.session.scalar(sa.select(Client).where(Client.client_id == spec.client_id))
    if client is None:
        client = Client(client_id=spec.client_id, project_id=spec.project_id)
        db.session.add(client)
    client.name, client.env, client.region = spec.name, spec.env, spec.region
    client.template_version = spec.template_version
    client.budget_amount = float(spec.infra.budget.amount)
    client.budget_currency = spec.infra.budget.currency or "EUR"
    client.spec_yaml = yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
    client.status = status
    client.urls = urls or {}
    audit.record("client.register", "client", spec.client_id, after=client.summary())
    db.session.commit()
    return client


def active_job(client_id: str) -> ProvisioningJob | None:
    return db.session.scalar(
        sa.select(ProvisioningJob)
        .where(ProvisioningJob.client_id == client_id)
        .where(ProvisioningJob.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
        .order_by(ProvisioningJob.id.desc())
    )


def jobs_for(client_id: str, limit: int = 20) -> list[ProvisioningJob]:
    return list(
        db.session.scalars(
            sa.select(ProvisioningJob)
            .where(ProvisioningJob.client_id == client_id)
            .order_by(ProvisioningJob.id.desc())
            .limit(limit)
        )
    )


def get_job(job_id: int) -> ProvisioningJob:
    job = db.session.get(ProvisioningJob, job_id)
    if job is None:
        raise ControlPlaneError(f"no provisioning job {job_id}", code="not_found")
    return job


def queue_job(rt: Runtime, client: Client, kind: str, *, version: str | None = None, actor: str) -> ProvisioningJob:
    """Create a job row and hand it to the worker; a client has at most one job running."""
    if kind not in JOB_STEPS:
        raise ControlPlaneError(f"unknown job kind {kind!r}", code="invalid_input")
    running = active_job(client.client_id)
    if running is not None:
        raise ControlPlaneError(
            f"{client.client_id} already has a {running.kind} job running (#{running.id})",
            code="conflict",
            fix="wait for it to finish, or resume it from the client page",
        )
    job = ProvisioningJob(
        client_id=client.client_id, kind=kind, version=version, total_steps=len(JOB_STEPS[kind]), actor=actor
    )
    db.session.add(job)
    audit.record(f"job.{kind}", "client", client.client_id, after={"job": "queued", "version": version}, actor=actor)
    db.session.commit()
    rt.enqueue("control_plane.provision", job.id)
    return job


def resume_job(rt: Runtime, job_id: int, *, actor: str) -> ProvisioningJob:
    """Re-queue a failed or interrupted job; steps it recorded as done are not repeated."""
    job = get_job(job_id)
    if job.status == JobStatus.SUCCEEDED.value:
        raise ControlPlaneError(f"job #{job.id} already succeeded", code="conflict")
    job.status, job.error = JobStatus.QUEUED.value, None
    audit.record("job.resume", "client", job.client_id, after={"job": job.id}, actor=actor)
    db.session.commit()
    rt.enqueue("control_plane.provision", job.id)
    return job


def _log(job: ProvisioningJob, line: str) -> None:
    running = _RUNNING_JOB.get()
    if running is not None:
        running.flush()  # the provisioner's lines come before what the step says about them
    job.log = (job.log or "") + f"[{utcnow().strftime('%H:%M:%S')}] {line}\n"
    db.session.commit()


class _JobOutput:
    """Streams a provisioner's output (terraform's lines) into the running job's log, committed at most
    every ``interval`` seconds and at each new terraform command, so the job page shows live progress."""

    def __init__(self, job: ProvisioningJob, interval: float = 2.0) -> None:
        self.job = job
        self.interval = interval
        self.pending: list[str] = []
        self.flushed_at = time.monotonic()

    def __call__(self, line: str) -> None:
        self.pending.append(f"[{utcnow().strftime('%H:%M:%S')}]   {line}")
        if line.startswith("$ ") or time.monotonic() - self.flushed_at >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.job.log = (self.job.log or "") + "\n".join(self.pending) + "\n"
            self.pending = []
            db.session.commit()
        self.flushed_at = time.monotonic()


_RUNNING_JOB: ContextVar[_JobOutput | None] = ContextVar("running_provisioning_job", default=None)


def job_events(event: ProgressEvent) -> None:
    """The provisioner's ``on_event``: kept in the log of the job running it (if any). A line of its log
    (terraform's output) as it is; a step's start, end or failure as its message."""
    sink = _RUNNING_JOB.get()
    if sink is None:
        return
    line = event.data.get("line")
    if line is not None:
        sink(str(line))
    elif event.kind != "advance" and event.message:
        sink(("FAILED: " if event.kind == "error" else "· ") + event.message)


def _step_create(rt: Runtime, client: Client, job: ProvisioningJob, step: str) -> None:
    spec = client_spec(client)
    if step == "provision":
        result = rt.provisioner.create(spec, client.template_version, on_event=job_events)
        client.urls = dict(result.urls)
        states = ", ".join(
            f"{n} {'healthy' if s.healthy else 'not healthy: ' + s.detail}" for n, s in result.services.items()
        )
        _log(
            job,
            f"provisioned {result.project_id} on template {result.template_version}"
            + (f"; {states}" if states else ""),
        )
    elif step == "secrets":
        source = spec.sources.get(SOURCE_NAME)
        if source is not None and source.password_secret:
            client_secrets = rt.client_admin(spec).secrets
            draft_secret = _draft_secret(client)
            if draft_secret is not None and rt.secrets.exists(draft_secret):
                client_secrets.put(source.password_secret, rt.secrets.get(draft_secret))
                rt.secrets.delete(draft_secret)
                _log(job, f"stored the source password as secret {source.password_secret} of {spec.project_id}")
            elif not client_secrets.exists(source.password_secret):
                raise ControlPlaneError(
                    "the source password is neither in the draft nor in the client's secrets",
                    code="provisioning_failed",
                    fix=f"store it with `b2brec secrets set {source.password_secret} --client {client.client_id}`",
                )
            else:
                _log(job, f"the source password is already secret {source.password_secret} of {spec.project_id}")
        else:
            _log(job, "no source password to store")
    elif step == "first_etl":
        _log(job, "first ETL load started")
        done = rt.client_admin(spec).load(lambda line: _log(job, line))
        _log(job, f"first ETL load done: {done}")
    elif step == "activate":
        client.status = ClientStatus.ACTIVE.value
        _log(job, f"{client.client_id} is active")


def _draft_secret(client: Client) -> str | None:
    from control_plane.onboarding.models import OnboardingDraft

    drafts = db.session.scalars(sa.select(OnboardingDraft).where(OnboardingDraft.status == "submitted"))
    for draft in drafts:
        if (draft.data or {}).get("company", {}).get("client_id") == client.client_id:
            return password_secret_name(draft.id)
    return None


def _step_apply(rt: Runtime, client: Client, job: ProvisioningJob, step: str) -> None:
    if step == "apply":
        if not job.version:
            raise ControlPlaneError("an apply_version job needs a version", code="invalid_input")
        result = rt.provisioner.apply_version(client_spec(client), job.version, on_event=job_events)
        restarted = f"; restarted {', '.join(result.restarted)}" if result.restarted else ""
        planned = result.changes.get("resources") or {}
        if planned:  # Terraform: what the applied plan changed
            restarted += f"; {planned['add']} added, {planned['change']} changed, {planned['destroy']} destroyed"
        _log(job, f"{result.project_id}: template {result.from_version} -> {result.to_version}{restarted}")
    elif step == "record":
        before = client.template_version
        spec = client_spec(client).model_copy(update={"template_version": job.version})
        client.template_version = job.version or before
        client.spec_yaml = yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
        audit.record(
            "client.version",
            "client",
            client.client_id,
            before={"template_version": before},
            after={"template_version": client.template_version},
            actor=job.actor,
        )
        _log(job, f"{client.client_id} runs template {client.template_version}")


def _step_decommission(rt: Runtime, client: Client, job: ProvisioningJob, step: str) -> None:
    if step == "delete":
        rt.provisioner.delete(client_spec(client), on_event=job_events)
        _log(job, f"deleted project {client.project_id}")
    elif step == "mark":
        client.status = ClientStatus.DECOMMISSIONED.value
        _log(job, f"{client.client_id} is decommissioned")


STEP_RUNNERS: dict[str, Callable[[Runtime, Client, ProvisioningJob, str], None]] = {
    "create": _step_create,
    "apply_version": _step_apply,
    "decommission": _step_decommission,
}


def run_job(rt: Runtime, job_id: int) -> ProvisioningJob:
    """Run the job's remaining steps in order, recording each as it completes (so a crash
    resumes at the first step not recorded). Failures mark the job and raise an alert."""
    from control_plane.alerts import services as alerts

    job = get_job(job_id)
    if job.status == JobStatus.SUCCEEDED.value:
        return job
    client = get_client(job.client_id)
    job.status, job.started_at = JobStatus.RUNNING.value, job.started_at or utcnow()
    db.session.commit()
    runner = STEP_RUNNERS[job.kind]
    for step in JOB_STEPS[job.kind]:
        if step in (job.steps_done or []):
            continue
        output = _JobOutput(job)
        token = _RUNNING_JOB.set(output)
        try:
            runner(rt, client, job, step)
        except B2BRecError as exc:
            output.flush()
            return _fail(rt, client, job, step, exc.message, str(getattr(exc, "fix", "") or ""))
        except Exception as exc:  # noqa: BLE001 - recorded on the job, never shown with a trace
            output.flush()
            return _fail(rt, client, job, step, f"{type(exc).__name__} during {step}", "see the worker log")
        finally:
            _RUNNING_JOB.reset(token)
        output.flush()
        job.steps_done = [*(job.steps_done or []), step]
        db.session.commit()
    job.status, job.ended_at = JobStatus.SUCCEEDED.value, utcnow()
    db.session.commit()
    alerts.resolve("provisioning_failed", client.client_id)
    return job


def _fail(rt: Runtime, client: Client, job: ProvisioningJob, step: str, message: str, fix: str) -> ProvisioningJob:
    from control_plane.alerts import services as alerts

    db.session.rollback()
    job = get_job(job.id)
    job.status, job.ended_at = JobStatus.FAILED.value, utcnow()
    job.error = f"{step}: {message}" + (f" (fix: {fix})" if fix else "")
    job.log = (job.log or "") + f"[{utcnow().strftime('%H:%M:%S')}] FAILED at {step}: {message}\n"
    if job.kind == "create":
        get_client(client.client_id).status = ClientStatus.FAILED.value
    db.session.commit()
    alerts.raise_alert(
        rt,
        "provisioning_failed",
        f"{job.kind} of {client.client_id} failed at {step}: {message}",
        client_id=client.client_id,
        severity="critical",
        key=f"job-{job.id}",
    )
    return job


def decommission(rt: Runtime, client: Client, *, confirm: str, actor: str) -> ProvisioningJob:
    """Delete a client's project; the operator must type the client id to confirm."""
    if confirm.strip() != client.client_id:
        raise ControlPlaneError(
            "the confirmation does not match the client id",
            code="invalid_input",
            fix=f"type {client.client_id} exactly to confirm decommissioning",
        )
    before = client.summary()
    client.status = ClientStatus.DECOMMISSIONING.value
    audit.record("client.decommission", "client", client.client_id, before=before, after=client.summary(), actor=actor)
    db.session.commit()
    return queue_job(rt, client, "decommission", actor=actor)


def set_pin(client: Client, pinned: bool, *, actor: str) -> Client:
    before = {"pinned": client.pinned}
    client.pinned = pinned
    audit.record("client.pin", "client", client.client_id, before=before, after={"pinned": pinned}, actor=actor)
    db.session.commit()
    return client


def details(rt: Runtime, client: Client) -> dict[str, Any]:
    """What the detail page shows beyond the row: last ETL, last training run, live model."""
    info: dict[str, Any] = {"last_etl": None, "last_training": None, "live_version": None, "recall": None}
    if client.status == ClientStatus.DECOMMISSIONED.value:
        return info
    try:
        project = open_project(client.project_id, rt.platform)
    except B2BRecError:
        return info
    if project.warehouse_path.exists():
        try:
            runs = etl_runs(project.warehouse(read_only=True), limit=1)
            info["last_etl"] = runs[0] if runs else None
        except Exception:  # noqa: BLE001 - a warehouse being written right now; shown as unknown
            info["last_etl"] = None
    info.update(_model_info(project))
    return info


def _model_info(project: Any) -> dict[str, Any]:
    """The newest model version in the client's models bucket and its recall (bundle manifest).

    Once ``b2brec.live`` is on main this reads the live pointer instead of the newest version."""
    from b2brec.bundle import BUNDLE_DIR, read_manifest

    out: dict[str, Any] = {}
    models_root = project.bucket_path("models")
    versions = (
        sorted(p.name for p in models_root.iterdir() if (p / BUNDLE_DIR / "manifest.json").exists())
        if models_root.is_dir()
        else []
    )
    if not versions:
        return out
    try:
        manifest = read_manifest(project.storage("models"), versions[-1])
    except B2BRecError:
        return out
    out["live_version"] = manifest.version
    out["recall"] = {k: v for k, v in manifest.metrics.items() if "recall" in k.lower()} or None
    out["last_training"] = {"version": manifest.version, "trained_at": manifest.trained_at, "run_id": manifest.run_id}
    return out
