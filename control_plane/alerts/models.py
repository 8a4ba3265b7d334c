"""Alerts raised for operators (shown in the UI, sent by email)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.extensions import db
from control_plane.timeutil import utcnow

ALERT_KINDS = (
    "provisioning_failed",
    "etl_failed",
    "training_failed",
    "unhealthy",
    "budget",
    "cost_anomaly",
    "rollout_halted",
)


class Alert(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    client_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    severity: Mapped[str] = mapped_column(sa.String(16), default="warning")
    message: Mapped[str] = mapped_column(sa.Text)
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    emailed: Mapped[bool] = mapped_column(default=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat() if self.at else None,
            "kind": self.kind,
            "client_id": self.client_id,
            "severity": self.severity,
            "message": self.message,
            "emailed": self.emailed,
        }
