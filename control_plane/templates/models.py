"""Template versions: tagged releases of the client template."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.extensions import db
from control_plane.timeutil import utcnow


class VersionStatus(StrEnum):
    CANDIDATE = "candidate"
    RELEASED = "released"
    RETIRED = "retired"


class TemplateVersion(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "template_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(32), unique=True)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    digests: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default=VersionStatus.CANDIDATE.value)
    test_client: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "notes": self.notes,
            "digests": dict(self.digests or {}),
            "status": self.status,
            "test_client": self.test_client,
            "released_at": self.released_at.isoformat() if self.released_at else None,
        }
