"""One entry point per wizard step, shared by the pages and the JSON API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from control_plane.clients import services as clients
from control_plane.errors import ControlPlaneError
from control_plane.onboarding import services
from control_plane.onboarding.models import OnboardingDraft
from control_plane.runtime import Runtime
from provisioning.templates import default_version


@dataclass(frozen=True)
class StepOutcome:
    next_step: str
    checks: list[dict[str, Any]] | None = None
    job_id: int | None = None


def initial_version(rt: Runtime) -> str:
    """New clients start on the newest released version (the baseline 1.0.0 on a fresh platform)."""
    return default_version(rt.templates)


def apply_step(rt: Runtime, draft: OnboardingDraft, step: str, form: dict[str, str], *, actor: str) -> StepOutcome:
    if draft.status != "open":
        raise ControlPlaneError(
            "this onboarding was already submitted", code="conflict", fix="open the client, or start a new onboarding"
        )
    if step == "company":
        services.save_company(
            draft, name=form.get("name", ""), client_id=form.get("client_id", ""), env=form.get("env", "")
        )
        return StepOutcome("region")
    if step == "region":
        services.save_region(
            draft, region=form.get("region", ""), budget=form.get("budget", ""), currency=form.get("currency", "")
        )
        return StepOutcome("source")
    if step == "source":
        services.save_source(draft, form, secrets=rt.secrets, settings=rt.platform)
        return StepOutcome("test")
    if step == "test":
        checks = services.run_test(draft, rt.platform, rt.secrets)
        return StepOutcome("mapping" if all(c["ok"] for c in checks) else "test", checks)
    if step == "mapping":
        checks = services.save_mapping(draft, form, rt.platform, rt.secrets)
        ready = all(c["ok"] for c in checks)
        if ready and services.plans(rt.provisioner):
            _queue_plan(rt, draft, actor=actor)
        return StepOutcome("review" if ready else "mapping", checks)
    if step == "plan":
        _checks_passed(draft)
        _queue_plan(rt, draft, actor=actor)
        return StepOutcome("review")
    if step in {"review", "provision"}:
        _checks_passed(draft)
        if services.plans(rt.provisioner):
            _plan_reviewed(rt, draft)
        client = services.register_client(draft, version=initial_version(rt))
        job = clients.queue_job(rt, client, "create", actor=actor)
        return StepOutcome("provision", job_id=job.id)
    raise ControlPlaneError(
        f"unknown step {step[:20]!r}", code="invalid_input", fix=f"use one of {list(services.STEPS)}"
    )


def _checks_passed(draft: OnboardingDraft) -> None:
    checks = (draft.data or {}).get("checks") or []
    if not checks or not all(c["ok"] for c in checks):
        raise ControlPlaneError(
            "the connection test has not passed",
            code="invalid_input",
            fix="run the connection test until every check passes",
        )


def _queue_plan(rt: Runtime, draft: OnboardingDraft, *, actor: str) -> None:
    plan = (draft.data or {}).get("plan") or {}
    if plan.get("status") in {"queued", "running"} and services.current_plan(draft, initial_version(rt)):
        return  # the same plan is already on its way
    services.queue_plan(draft, rt.provisioner, version=initial_version(rt), actor=actor)
    rt.enqueue("control_plane.plan", draft.id)


def _plan_reviewed(rt: Runtime, draft: OnboardingDraft) -> None:
    """On Terraform, provisioning follows a finished plan of exactly the spec it will apply."""
    plan = services.current_plan(draft, initial_version(rt))
    if plan is None or plan.get("status") != "succeeded":
        state = "is still running" if plan and plan.get("status") in {"queued", "running"} else "is missing or stale"
        raise ControlPlaneError(
            f"the Terraform plan of this client {state}",
            code="invalid_input",
            fix="wait for the plan on the review page (or run it again) and check it before provisioning",
        )
