"""Rollout pages: history, start, one rollout's waves, halt."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import login_required

from b2brec.errors import B2BRecError
from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.errors import ControlPlaneError, status_of
from control_plane.rollouts import services
from control_plane.runtime import runtime
from control_plane.templates import services as templates
from control_plane.web import actor, form_error

bp = Blueprint("rollouts", __name__, url_prefix="/rollouts")


def _float(name: str) -> float | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ControlPlaneError(f"{name} is not a number", code="invalid_input", fix="enter a number") from None


def _index(status: int = 200) -> Any:
    rt = runtime()
    return render_template(
        "rollouts/index.html",
        rollouts=services.history(),
        kept=templates.deployable(rt.settings.kept_versions),
        settings=rt.settings,
    ), status


@bp.get("/")
@login_required
def index() -> Any:
    return _index()


@bp.post("/")
@require(Role.OPERATOR)
def start() -> Any:
    try:
        size = _float("wave_size")
        rollout = services.start(
            runtime(),
            request.form.get("version", ""),
            actor=actor(),
            soak_seconds=_float("soak_seconds"),
            canary_fraction=_float("canary_fraction"),
            wave_size=int(size) if size is not None else None,
        )
    except B2BRecError as exc:
        form_error(exc)
        return _index(status_of(exc))
    return redirect(url_for("rollouts.show", rollout_id=rollout.id))


@bp.get("/<int:rollout_id>")
@login_required
def show(rollout_id: int) -> Any:
    rollout = services.get(rollout_id)
    return render_template("rollouts/show.html", rollout=rollout, targets=services.targets(rollout_id))


@bp.post("/<int:rollout_id>/halt")
@require(Role.OPERATOR)
def halt(rollout_id: int) -> Any:
    try:
        services.halt(runtime(), rollout_id, actor=actor(), roll_back=request.form.get("roll_back", "1") == "1")
    except B2BRecError as exc:
        form_error(exc)
    return redirect(url_for("rollouts.show", rollout_id=rollout_id))
