"""Record and read the audit log. Every change goes through :func:`record` in the same
transaction as the change itself, so a change without its audit entry cannot be committed."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_login import current_user

from control_plane.audit.models import AuditEntry
from control_plane.extensions import db


def actor_name() -> str:
    """The signed-in operator's email, or ``system`` outside a request (Celery tasks)."""
    try:
        if current_user and current_user.is_authenticated:
            return str(current_user.email)
    except Exception:  # noqa: BLE001 - no request context (worker)
        return "system"
    return "system"


def record(
    action: str,
    target_type: str,
    target_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor or actor_name(),
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
    )
    db.session.add(entry)
    return entry


def entries(*, limit: int = 200, target_id: str | None = None) -> list[AuditEntry]:
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if target_id:
        query = query.where(AuditEntry.target_id == target_id)
    return list(db.session.scalars(query))


def to_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat() if entry.at else None,
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "before": entry.before,
        "after": entry.after,
    }
