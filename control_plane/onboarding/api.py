"""JSON API of the onboarding wizard (the same steps as the pages)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_login import login_required

from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.errors import ControlPlaneError
from control_plane.onboarding import services
from control_plane.onboarding.flow import apply_step
from control_plane.responses import ok
from control_plane.runtime import runtime
from control_plane.web import actor

bp = Blueprint("onboarding_api", __name__, url_prefix="/api/onboarding")


def _public(draft: Any) -> dict[str, Any]:
    data = dict(draft.data or {})
    data.pop("schema", None)
    return {"id": draft.id, "step": draft.step, "status": draft.status, "data": data}


@bp.post("")
@require(Role.OPERATOR)
def start() -> Any:
    return ok({"draft": _public(services.start(actor()))}, "draft created", 201)


@bp.get("/<int:draft_id>")
@login_required
def show(draft_id: int) -> Any:
    return ok({"draft": _public(services.get(draft_id))})


@bp.post("/<int:draft_id>/<step>")
@require(Role.OPERATOR)
def submit(draft_id: int, step: str) -> Any:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ControlPlaneError(
            "send the step's fields as a JSON object", code="invalid_input", fix='POST {"name": ...}'
        )
    form = {str(k): "" if v is None else str(v) for k, v in payload.items()}
    outcome = apply_step(runtime(), services.get(draft_id), step, form, actor=actor())
    return ok(
        {
            "draft": _public(services.get(draft_id)),
            "next_step": outcome.next_step,
            "checks": outcome.checks,
            "job_id": outcome.job_id,
        }
    )
