"""The app database's tables (SQLite locally, PostgreSQL on GCP; schema owned by Alembic)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from client_app.extensions import db

ROLES: tuple[str, ...] = ("viewer", "member", "admin")
"""Ordered by power: each role can do what the ones before it can."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True, index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16), default="viewer")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return self.active

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class Activity(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "activity"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(254))
    action: Mapped[str] = mapped_column(sa.String(64))
    target: Mapped[str] = mapped_column(sa.String(255), default="")
    detail: Mapped[str] = mapped_column(sa.Text, default="")


class Connection(db.Model):  # type: ignore[name-defined,misc]
    """A source database or uploaded file; the password lives in the secrets backend, by name only."""

    __tablename__ = "connections"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    host: Mapped[str | None] = mapped_column(sa.String(255))
    port: Mapped[int | None]
    database: Mapped[str | None] = mapped_column(sa.String(128))
    db_schema: Mapped[str | None] = mapped_column(sa.String(128))
    username: Mapped[str | None] = mapped_column(sa.String(128))
    password_secret: Mapped[str | None] = mapped_column(sa.String(255))
    path: Mapped[str | None] = mapped_column(sa.String(1024))
    mapping: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_test_ok: Mapped[bool | None]
    last_tested_at: Mapped[datetime | None]


class Job(db.Model):  # type: ignore[name-defined,misc]
    """One ETL or training run started from the app, driven by a Celery task."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), index=True)  # etl | training
    status: Mapped[str] = mapped_column(sa.String(24), default="queued", index=True)
    run_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    message: Mapped[str] = mapped_column(sa.Text, default="")
    progress: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    estimated_cost: Mapped[float | None]
    metered_cost: Mapped[float | None]
    approved_by: Mapped[str | None] = mapped_column(sa.String(254))
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_fix: Mapped[str | None] = mapped_column(sa.Text)


class ApiKey(db.Model):  # type: ignore[name-defined,misc]
    """Only a prefix and a hash are kept here; the key itself is in the serving secret."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(sa.String(254))


class SavedView(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "saved_views"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    sql: Mapped[str] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Preference(db.Model):  # type: ignore[name-defined,misc]
    """Small app-wide choices (feature selection, ETL schedule, seen template version) as JSON."""

    __tablename__ = "preferences"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def get_preference(key: str, default: Any = None) -> Any:
    row = db.session.get(Preference, key)
    return default if row is None else row.value


def set_preference(key: str, value: Any) -> None:
    row = db.session.get(Preference, key)
    if row is None:
        db.session.add(Preference(key=key, value=value))
    else:
        row.value = value
