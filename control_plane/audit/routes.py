"""The audit log page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_login import login_required

from control_plane.audit import services

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/")
@login_required
def index() -> Any:
    target = request.args.get("target", "")[:128] or None
    return render_template("audit/index.html", entries=services.entries(target_id=target), target=target)
