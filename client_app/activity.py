"""The activity log: who did what, when (shown to admins on the settings page)."""

from __future__ import annotations

from flask_login import current_user

from client_app.extensions import db
from client_app.models import Activity


def record(action: str, target: str = "", detail: str = "", *, actor: str | None = None) -> None:
    """Add one entry to the current transaction (committed with the change it describes)."""
    who = actor or (current_user.email if getattr(current_user, "is_authenticated", False) else "system")
    db.session.add(Activity(actor=who, action=action, target=target[:255], detail=detail))


def latest(limit: int = 100) -> list[Activity]:
    return list(db.session.scalars(db.select(Activity).order_by(Activity.at.desc(), Activity.id.desc()).limit(limit)))
