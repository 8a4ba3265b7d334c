"""Canary rollouts of a template version over the fleet.

A rollout splits the eligible clients (active, not pinned, not on the version yet) into a
canary wave (``canary_fraction`` of them, at least one) and further waves of ``wave_size``.
:func:`tick` drives it one short step at a time (the worker calls it every few seconds):

* queue one ``apply_version`` provisioning job per client of the current wave (each with its own log,
  linked from the rollout page), wait for them, then soak; a failed job rolls the wave back;
* during the soak every tick probes the wave's clients: any failure rolls the whole wave back
  to the versions its clients ran before and halts the rollout (no later client is touched);
* a soak that ends with every client healthy opens the next wave, or completes the rollout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import yaml

from control_plane.audit import services as audit
from control_plane.clients import services as clients_svc
from control_plane.clients.models import Client, ClientStatus, JobStatus, ProvisioningJob
from control_plane.errors import ControlPlaneError
from control_plane.extensions import db
from control_plane.health import services as health
from control_plane.rollouts.models import Rollout, RolloutStatus, RolloutTarget, TargetStatus
from control_plane.runtime import Runtime
from control_plane.templates import services as templates
from control_plane.timeutil import aware, utcnow

ACTIVE = (RolloutStatus.RUNNING.value, RolloutStatus.SOAKING.value)


@dataclass(frozen=True)
class Plan:
    waves: list[list[str]]


def plan_waves(client_ids: list[str], canary_fraction: float, wave_size: int) -> Plan:
    """Canary first (ceil of the fraction, at least one), then waves of ``wave_size``."""
    if not client_ids:
        return Plan([])
    canary = max(1, math.ceil(len(client_ids) * canary_fraction))
    waves = [client_ids[:canary]]
    rest = client_ids[canary:]
    waves += [rest[i : i + wave_size] for i in range(0, len(rest), wave_size)]
    return Plan(waves)


def running() -> Rollout | None:
    return db.session.scalar(sa.select(Rollout).where(Rollout.status.in_(ACTIVE)).order_by(Rollout.id.desc()))


def get(rollout_id: int) -> Rollout:
    rollout = db.session.get(Rollout, rollout_id)
    if rollout is None:
        raise ControlPlaneError(f"no rollout {rollout_id}", code="not_found", fix="pick one from the rollouts page")
    return rollout


def targets(rollout_id: int) -> list[RolloutTarget]:
    return list(
        db.session.scalars(
            sa.select(RolloutTarget)
            .where(RolloutTarget.rollout_id == rollout_id)
            .order_by(RolloutTarget.wave, RolloutTarget.client_id)
        )
    )


def history(limit: int = 50) -> list[Rollout]:
    return list(db.session.scalars(sa.select(Rollout).order_by(Rollout.id.desc()).limit(limit)))


def start(
    rt: Runtime,
    version: str,
    *,
    actor: str,
    soak_seconds: float | None = None,
    canary_fraction: float | None = None,
    wave_size: int | None = None,
) -> Rollout:
    templates.check_deployable(version, rt.settings.kept_versions)
    if running() is not None:
        raise ControlPlaneError(
            "another rollout is running", code="rollout_running", fix="wait for it to finish or halt it first"
        )
    soak = rt.settings.soak_seconds if soak_seconds is None else soak_seconds
    fraction = rt.settings.canary_fraction if canary_fraction is None else canary_fraction
    size = rt.settings.wave_size if wave_size is None else wave_size
    if not (0 <= soak <= 7 * 86400 and 0 < fraction <= 1 and 1 <= size <= 10_000):
        raise ControlPlaneError(
            "soak, canary fraction or wave size out of range",
            code="invalid_input",
            fix="soak 0..604800 s, canary fraction in (0, 1], wave size 1..10000",
        )
    eligible = list(
        db.session.scalars(
            sa.select(Client)
            .where(
                Client.status == ClientStatus.ACTIVE.value, Client.pinned.is_(False), Client.template_version != version
            )
            .order_by(Client.client_id)
        )
    )
    if not eligible:
        raise ControlPlaneError(
            f"no eligible client: every active, unpinned client already runs {version}",
            code="conflict",
            fix="unpin clients or pick another version",
        )
    plan = plan_waves([c.client_id for c in eligible], fraction, size)
    rollout = Rollout(
        version=version, actor=actor, soak_seconds=soak, waves=len(plan.waves), status=RolloutStatus.RUNNING.value
    )
    db.session.add(rollout)
    db.session.flush()
    versions = {c.client_id: c.template_version for c in eligible}
    for wave, ids in enumerate(plan.waves):
        for client_id in ids:
            db.session.add(
                RolloutTarget(rollout_id=rollout.id, client_id=client_id, wave=wave, from_version=versions[client_id])
            )
    audit.record(
        "rollout.start", "rollout", str(rollout.id), after={**rollout.to_dict(), "clients": len(eligible)}, actor=actor
    )
    db.session.commit()
    return rollout


def _apply(rt: Runtime, client: Client, version: str, *, actor: str) -> None:
    spec = clients_svc.client_spec(client)
    rt.provisioner.apply_version(spec, version)
    before = client.template_version
    client.template_version = version
    client.spec_yaml = yaml.safe_dump(
        spec.model_copy(update={"template_version": version}).model_dump(mode="json"), sort_keys=False
    )
    audit.record(
        "client.version",
        "client",
        client.client_id,
        before={"template_version": before},
        after={"template_version": version},
        actor=actor,
    )


def tick(rt: Runtime, rollout_id: int) -> Rollout:
    """Advance a rollout by one short step (idempotent: safe to call from several workers in turn)."""
    rollout = get(rollout_id)
    if rollout.status not in ACTIVE:
        return rollout
    wave = [t for t in targets(rollout.id) if t.wave == rollout.current_wave]
    if rollout.status == RolloutStatus.RUNNING.value:
        for target in wave:
            if target.status != TargetStatus.PENDING.value:
                continue
            client = clients_svc.get_client(target.client_id)
            if client.pinned or client.status != ClientStatus.ACTIVE.value:
                target.status, target.detail = TargetStatus.SKIPPED.value, "pinned or not active when its wave began"
                db.session.commit()
                continue
            try:
                job = clients_svc.queue_job(
                    rt, client, "apply_version", version=rollout.version, actor=f"rollout #{rollout.id}"
                )
            except ControlPlaneError as exc:  # e.g. the client has another job running: fails the gate
                db.session.rollback()
                target = _reload(target)
                target.status, target.detail = TargetStatus.FAILED.value, f"apply not started: {exc.message}"[:500]
                db.session.commit()
                return _roll_back_wave(rt, rollout, f"{client.client_id}: apply not started")
            db.session.expire_all()  # an eager worker ran the job in its own session
            target = _reload(target)
            target.status, target.job_id = TargetStatus.APPLYING.value, job.id
            db.session.commit()
        return _await_jobs(rt, get(rollout_id))
    return _gate(rt, rollout, wave)


def _reload(target: RolloutTarget) -> RolloutTarget:
    fresh = db.session.get(RolloutTarget, target.id)
    assert fresh is not None, "rollout targets are never deleted"
    return fresh


def _await_jobs(rt: Runtime, rollout: Rollout) -> Rollout:
    """The wave's gate waits for its clients' apply jobs: a failed one rolls the wave back, and the soak
    starts once every job succeeded."""
    wave = [t for t in targets(rollout.id) if t.wave == rollout.current_wave]
    failed: list[str] = []
    for target in wave:
        if target.status != TargetStatus.APPLYING.value or target.job_id is None:
            continue
        job = db.session.get(ProvisioningJob, target.job_id)
        if job is None or job.status == JobStatus.FAILED.value:
            error = job.error if job is not None else "the job row is gone"
            target.status, target.detail = (
                TargetStatus.FAILED.value,
                f"apply job #{target.job_id} failed: {error}"[:500],
            )
            failed.append(target.client_id)
        elif job.status == JobStatus.SUCCEEDED.value:
            target.status = TargetStatus.APPLIED.value
    db.session.commit()
    if failed:
        return _roll_back_wave(rt, rollout, f"{', '.join(failed[:10])}: apply failed")
    if any(t.status == TargetStatus.APPLYING.value for t in wave):
        return rollout
    rollout.status, rollout.wave_applied_at = RolloutStatus.SOAKING.value, utcnow()
    db.session.commit()
    return rollout

    return _gate(rt, rollout, wave)


def _gate(rt: Runtime, rollout: Rollout, wave: list[RolloutTarget]) -> Rollout:
    applied = [t for t in wave if t.status in (TargetStatus.APPLIED.value, TargetStatus.HEALTHY.value)]
    failing: list[str] = []
    for target in applied:
        result = health.check_client(rt, clients_svc.get_client(target.client_id))
        if not result.gate_ok:
            target.status = TargetStatus.FAILED.value
            target.detail = (
                "health gate: "
                + ", ".join(f"{name} {result.checks[name].get('detail', '')}" for name in result.failures)[:500]
            )
            failing.append(target.client_id)
    db.session.commit()
    if failing:
        return _roll_back_wave(rt, rollout, f"health gate failed on {', '.join(failing[:10])}")
    soaked = (utcnow() - (aware(rollout.wave_applied_at) or utcnow())).total_seconds() >= rollout.soak_seconds
    if not soaked:
        return rollout
    for target in applied:
        target.status = TargetStatus.HEALTHY.value
    if rollout.current_wave + 1 >= rollout.waves:
        rollout.status, rollout.finished_at = RolloutStatus.COMPLETED.value, utcnow()
        audit.record(
            "rollout.complete", "rollout", str(rollout.id), after=rollout.to_dict(), actor=f"rollout #{rollout.id}"
        )
    else:
        rollout.current_wave += 1
        rollout.status = RolloutStatus.RUNNING.value
    db.session.commit()
    return rollout


def _roll_back_wave(rt: Runtime, rollout: Rollout, reason: str) -> Rollout:
    """Put every client of the current wave back on its previous version; halt the rollout."""
    from control_plane.alerts import services as alerts

    for target in targets(rollout.id):
        if target.wave != rollout.current_wave or target.status in (
            TargetStatus.PENDING.value,
            TargetStatus.SKIPPED.value,
        ):
            continue
        client = clients_svc.get_client(target.client_id)
        running = clients_svc.active_job(client.client_id)
        if running is not None:  # never apply over a running terraform: the operator rolls it back after
            target.status = TargetStatus.FAILED.value
            target.detail = (
                f"job #{running.id} still running; roll {client.client_id} back to {target.from_version} "
                "from its page when it ends"
            )
            db.session.commit()
            continue
        try:
            _apply(rt, client, target.from_version, actor=f"rollout #{rollout.id} rollback")
            target.detail = (target.detail + "; " if target.detail else "") + f"rolled back to {target.from_version}"
            target.status = TargetStatus.ROLLED_BACK.value
        except Exception as exc:  # noqa: BLE001 - recorded; the operator sees which client is stuck
            target.detail = f"ROLLBACK FAILED: {type(exc).__name__}: {exc}"[:500]
        db.session.commit()
    before = rollout.to_dict()
    rollout.status, rollout.halt_reason, rollout.finished_at = RolloutStatus.HALTED.value, reason, utcnow()
    audit.record(
        "rollout.halt",
        "rollout",
        str(rollout.id),
        before=before,
        after=rollout.to_dict(),
        actor=f"rollout #{rollout.id}",
    )
    db.session.commit()
    alerts.raise_alert(
        rt,
        "rollout_halted",
        f"rollout #{rollout.id} of {rollout.version} halted in wave {rollout.current_wave}: {reason}; "
        "the wave was rolled back",
        severity="critical",
        key=str(rollout.id),
    )
    return rollout


def halt(rt: Runtime, rollout_id: int, *, actor: str, roll_back: bool = True) -> Rollout:
    rollout = get(rollout_id)
    if rollout.status not in ACTIVE:
        raise ControlPlaneError(f"rollout #{rollout_id} is {rollout.status}", code="conflict", fix="nothing to halt")
    audit.record("rollout.halt_request", "rollout", str(rollout.id), after={"roll_back": roll_back}, actor=actor)
    if roll_back:
        return _roll_back_wave(rt, rollout, f"halted by {actor}")
    rollout.status, rollout.halt_reason, rollout.finished_at = (
        RolloutStatus.HALTED.value,
        f"halted by {actor}",
        utcnow(),
    )
    db.session.commit()
    return rollout


def tick_all(rt: Runtime) -> list[Rollout]:
    current = running()
    return [tick(rt, current.id)] if current is not None else []


def rollback_client(rt: Runtime, client_id: str, version: str, *, actor: str) -> Any:
    """One-click rollback (or forward) of one client to a kept version, as a provisioning job."""
    client = clients_svc.get_client(client_id)
    templates.check_deployable(version, rt.settings.kept_versions, single_client=True)
    if client.template_version == version:
        raise ControlPlaneError(f"{client_id} already runs {version}", code="conflict", fix="pick another version")
    return clients_svc.queue_job(rt, client, "apply_version", version=version, actor=actor)
