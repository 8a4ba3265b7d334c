"""Client registry rows and their provisioning jobs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.extensions import db
from control_plane.timeutil import utcnow


class ClientStatus(StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"
    DECOMMISSIONING = "decommissioning"
    DECOMMISSIONED = "decommissioned"


class Client(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    env: Mapped[str] = mapped_column(sa.String(16))
    region: Mapped[str] = mapped_column(sa.String(32))
    project_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    status: Mapped[str] = mapped_column(sa.String(20), default=ClientStatus.PROVISIONING.value)
    template_version: Mapped[str] = mapped_column(sa.String(32))
    pinned: Mapped[bool] = mapped_column(default=False)
    budget_amount: Mapped[float] = mapped_column(default=0.0)
    budget_currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    spec_yaml: Mapped[str] = mapped_column(sa.Text)
    urls: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    def summary(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "env": self.env,
            "region": self.region,
            "project_id": self.project_id,
            "status": self.status,
            "template_version": self.template_version,
            "pinned": self.pinned,
            "budget": {"amount": self.budget_amount, "currency": self.budget_currency},
            "urls": self.urls or {},
        }


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProvisioningJob(db.Model):  # type: ignore[name-defined,misc]
    """One provisioning operation (create, apply a version, decommission) and its kept log.

    ``steps_done`` makes a re-run resumable: a step already recorded is not repeated."""

    __tablename__ = "provisioning_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    status: Mapped[str] = mapped_column(sa.String(16), default=JobStatus.QUEUED.value)
    version: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    steps_done: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    total_steps: Mapped[int] = mapped_column(default=0)
    log: Mapped[str] = mapped_column(sa.Text, default="")
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    actor: Mapped[str] = mapped_column(sa.String(254), default="system")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": self.client_id,
            "kind": self.kind,
            "status": self.status,
            "version": self.version,
            "steps_done": list(self.steps_done or []),
            "total_steps": self.total_steps,
            "log": self.log,
            "error": self.error,
        }
