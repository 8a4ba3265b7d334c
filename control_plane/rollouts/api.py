"""JSON API of rollouts (CI starts and watches them through it or the CLI)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_login import login_required

from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.errors import ControlPlaneError
from control_plane.responses import ok
from control_plane.rollouts import services
from control_plane.runtime import runtime
from control_plane.web import actor

bp = Blueprint("rollouts_api", __name__, url_prefix="/api/rollouts")


def status_payload(rollout_id: int) -> dict[str, Any]:
    rollout = services.get(rollout_id)
    return {"rollout": rollout.to_dict(), "targets": [t.to_dict() for t in services.targets(rollout_id)]}


@bp.get("")
@login_required
def index() -> Any:
    return ok({"rollouts": [r.to_dict() for r in services.history()]})


@bp.post("")
@require(Role.OPERATOR)
def start() -> Any:
    payload = request.get_json(silent=True) or {}
    try:
        soak = payload.get("soak_seconds")
        fraction = payload.get("canary_fraction")
        size = payload.get("wave_size")
        rollout = services.start(
            runtime(),
            str(payload.get("version", "")),
            actor=actor(),
            soak_seconds=None if soak is None else float(soak),
            canary_fraction=None if fraction is None else float(fraction),
            wave_size=None if size is None else int(size),
        )
    except (TypeError, ValueError):
        raise ControlPlaneError(
            "soak_seconds, canary_fraction and wave_size must be numbers", code="invalid_input"
        ) from None
    return ok(status_payload(rollout.id), "started", 201)


@bp.get("/<int:rollout_id>")
@login_required
def show(rollout_id: int) -> Any:
    return ok(status_payload(rollout_id))


@bp.post("/<int:rollout_id>/halt")
@require(Role.OPERATOR)
def halt(rollout_id: int) -> Any:
    payload = request.get_json(silent=True) or {}
    services.halt(runtime(), rollout_id, actor=actor(), roll_back=bool(payload.get("roll_back", True)))
    return ok(status_payload(rollout_id), "halted")
