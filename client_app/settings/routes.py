"""Settings page: template version, activity log."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from client_app import activity
from client_app.auth.roles import require_role
from client_app.settings import bp, services


@bp.get("/")
@require_role("viewer")
def index() -> str:
    entries = activity.latest(200) if current_user.can("admin") else []
    return render_template("settings/index.html", version=services.template_version(), entries=entries)


@bp.post("/acknowledge")
@require_role("viewer")
def acknowledge() -> Response:
    services.acknowledge(current_user.email)
    return redirect(url_for("settings.index"))
