"""Fleet health history: one sample per client per poll."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.extensions import db
from control_plane.timeutil import utcnow


class HealthSample(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "health_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, index=True)
    healthy: Mapped[bool] = mapped_column()
    template_version: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    checks: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    p99_ms: Mapped[float | None] = mapped_column(nullable=True)
    error_rate: Mapped[float | None] = mapped_column(nullable=True)
    fallback_rate: Mapped[float | None] = mapped_column(nullable=True)
    predictions: Mapped[float | None] = mapped_column(nullable=True)
