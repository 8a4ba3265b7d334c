"""JSON: activity log (admins)."""

from __future__ import annotations

from flask import Response

from client_app import activity
from client_app.auth.roles import require_role
from client_app.responses import ok
from client_app.settings import bp


@bp.get("/api/activity")
@require_role("admin")
def api_activity() -> tuple[Response, int]:
    entries = activity.latest(200)
    return ok(
        "activity",
        [
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target": e.target, "detail": e.detail}
            for e in entries
        ],
    )
