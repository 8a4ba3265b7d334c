"""JSON API of alerts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_login import login_required

from control_plane.alerts import services
from control_plane.responses import ok

bp = Blueprint("alerts_api", __name__, url_prefix="/api/alerts")


@bp.get("")
@login_required
def index() -> Any:
    return ok({"alerts": [a.to_dict() for a in services.recent(200)]})
