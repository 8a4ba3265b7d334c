"""The alerts page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import login_required

from control_plane.alerts import services

bp = Blueprint("alerts", __name__, url_prefix="/alerts")


@bp.get("/")
@login_required
def index() -> Any:
    return render_template("alerts/index.html", alerts=services.recent(200))
