"""The onboarding wizard pages: one GET/POST per step, the draft id in the URL."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import login_required

from b2brec.errors import B2BRecError
from b2brec.features import PLATFORM_TABLES
from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.clients import services as clients
from control_plane.errors import status_of
from control_plane.onboarding import services
from control_plane.onboarding.flow import apply_step, initial_version
from control_plane.runtime import runtime
from control_plane.web import actor, form_error

bp = Blueprint("onboarding", __name__, url_prefix="/onboarding")


@bp.get("/")
@login_required
def index() -> Any:
    return render_template("onboarding/start.html")


@bp.post("/")
@require(Role.OPERATOR)
def start() -> Any:
    draft = services.start(actor())
    return redirect(url_for("onboarding.step", draft_id=draft.id, step="company"))


def _context(draft_id: int, step: str) -> dict[str, Any]:
    rt = runtime()
    draft = services.get(draft_id)
    context: dict[str, Any] = {
        "draft": draft,
        "step": step,
        "steps": services.STEPS,
        "data": draft.data or {},
        "platform_tables": PLATFORM_TABLES,
    }
    if step == "mapping":
        context["previews"] = services.previews(draft, rt.platform, rt.secrets)
    if step in {"review", "provision"}:
        version = initial_version(rt)
        context["plans"] = services.plans(rt.provisioner)
        context["plan"] = services.current_plan(draft, version)
        try:
            spec = services.build_spec(draft, version=version)
            context["spec_text"] = services.spec_yaml(spec)
        except B2BRecError as exc:
            form_error(exc)
            context["spec_text"] = ""
    return context


@bp.get("/<int:draft_id>/<step>")
@login_required
def step(draft_id: int, step: str) -> Any:
    if step not in services.STEPS:
        return redirect(url_for("onboarding.step", draft_id=draft_id, step="company"))
    return render_template(f"onboarding/{step}.html", **_context(draft_id, step))


@bp.post("/<int:draft_id>/<step>")
@require(Role.OPERATOR)
def submit(draft_id: int, step: str) -> Any:
    rt = runtime()
    draft = services.get(draft_id)
    try:
        outcome = apply_step(rt, draft, step, request.form.to_dict(), actor=actor())
    except B2BRecError as exc:
        form_error(exc)
        shown = "review" if step == "plan" else step if step in services.STEPS else "company"
        return render_template(f"onboarding/{shown}.html", **_context(draft_id, shown)), status_of(exc)
    if outcome.job_id is not None:
        return redirect(url_for("clients.job", job_id=outcome.job_id))
    return redirect(url_for("onboarding.step", draft_id=draft_id, step=outcome.next_step))


@bp.get("/<int:draft_id>/client")
@login_required
def client(draft_id: int) -> Any:
    draft = services.get(draft_id)
    return redirect(
        url_for("clients.detail", client_id=clients.get_client(draft.data["company"]["client_id"]).client_id)
    )
