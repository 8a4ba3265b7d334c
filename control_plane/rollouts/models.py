"""Rollouts of a template version over the fleet, wave by wave."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.extensions import db
from control_plane.timeutil import utcnow


class RolloutStatus(StrEnum):
    RUNNING = "running"
    SOAKING = "soaking"
    COMPLETED = "completed"
    HALTED = "halted"


class TargetStatus(StrEnum):
    PENDING = "pending"
    APPLYING = "applying"
    """Its ``apply_version`` provisioning job is queued or running; the wave's gate waits for it."""
    APPLIED = "applied"
    HEALTHY = "healthy"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    SKIPPED = "skipped"


class Rollout(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default=RolloutStatus.RUNNING.value)
    current_wave: Mapped[int] = mapped_column(default=0)
    waves: Mapped[int] = mapped_column(default=0)
    soak_seconds: Mapped[float] = mapped_column(default=60.0)
    wave_applied_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    halt_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    actor: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "status": self.status,
            "current_wave": self.current_wave,
            "waves": self.waves,
            "soak_seconds": self.soak_seconds,
            "halt_reason": self.halt_reason,
            "actor": self.actor,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


class RolloutTarget(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "rollout_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(sa.ForeignKey("rollouts.id"), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(40))
    wave: Mapped[int] = mapped_column()
    from_version: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default=TargetStatus.PENDING.value)
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("provisioning_jobs.id"), nullable=True)
    """The client's ``apply_version`` job of this rollout (its log is on the job page)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "wave": self.wave,
            "from_version": self.from_version,
            "status": self.status,
            "detail": self.detail,
            "job_id": self.job_id,
        }
