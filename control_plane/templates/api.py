"""JSON API of template versions (CI publishes releases through it or the CLI)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_login import login_required

from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.errors import ControlPlaneError
from control_plane.responses import ok
from control_plane.templates import services
from control_plane.web import actor

bp = Blueprint("templates_api", __name__, url_prefix="/api/templates")


@bp.get("")
@login_required
def index() -> Any:
    return ok({"versions": [services.to_dict(v) for v in services.list_versions()]})


@bp.post("")
@require(Role.ADMIN)
def add() -> Any:
    payload = request.get_json(silent=True) or {}
    images = payload.get("images") or {}
    if not isinstance(images, dict):
        raise ControlPlaneError("images must be an object", code="invalid_input", fix='send {"serving": "sha256:…"}')
    row = services.add_candidate(
        str(payload.get("version", "")),
        notes=str(payload.get("notes", "")),
        images={str(k): str(v) for k, v in images.items()},
        actor=actor(),
    )
    if payload.get("release"):
        row = services.release(row.version, actor=actor())
    return ok({"version": services.to_dict(row)}, "created", 201)


@bp.post("/<version>/release")
@require(Role.ADMIN)
def release(version: str) -> Any:
    return ok({"version": services.to_dict(services.release(version, actor=actor()))}, "released")
