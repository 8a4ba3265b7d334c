"""JSON API of the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_login import login_required

from control_plane.audit import services
from control_plane.responses import ok

bp = Blueprint("audit_api", __name__, url_prefix="/api/audit")


@bp.get("")
@login_required
def index() -> Any:
    target = request.args.get("target", "")[:128] or None
    return ok({"entries": [services.to_dict(e) for e in services.entries(target_id=target)]})
