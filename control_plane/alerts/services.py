"""Raise alerts once per cause (a dedupe key), show them, and email them."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from control_plane.alerts.models import ALERT_KINDS, Alert
from control_plane.extensions import db
from control_plane.runtime import Runtime

log = logging.getLogger(__name__)


def raise_alert(
    rt: Runtime, kind: str, message: str, *, client_id: str | None = None, severity: str = "warning", key: str = ""
) -> Alert | None:
    """Record and email an alert; the same ``kind/client/key`` is raised once (returns None then)."""
    if kind not in ALERT_KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    dedupe = f"{kind}/{client_id or '-'}/{key}"[:200]
    if db.session.scalar(sa.select(Alert.id).where(Alert.dedupe_key == dedupe)) is not None:
        return None
    alert = Alert(kind=kind, client_id=client_id, severity=severity, message=message, dedupe_key=dedupe)
    db.session.add(alert)
    db.session.commit()
    try:
        rt.alerts.send(f"[b2brec {severity}] {kind}: {client_id or 'fleet'}", message)
        alert.emailed = True
        db.session.commit()
    except OSError as exc:  # the alert stays in the UI even when mail is down
        log.warning("could not email alert %s: %s", alert.id, exc)
    return alert


def resolve(kind: str, client_id: str) -> None:
    """Nothing to do for stored alerts (history is kept); kept as the hook for auto-resolve."""
    return None


def recent(limit: int = 50) -> list[Alert]:
    return list(db.session.scalars(sa.select(Alert).order_by(Alert.id.desc()).limit(limit)))
