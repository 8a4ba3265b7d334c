"""Operator accounts: create, authenticate, change role (every change audited)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from control_plane.audit import services as audit
from control_plane.auth.models import Operator, Role
from control_plane.errors import ControlPlaneError
from control_plane.extensions import db

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")
MIN_PASSWORD = 10


def _check_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise ControlPlaneError("that is not an email address", code="invalid_input", fix="use name@company.example")
    return email


def _check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ControlPlaneError(
            f"unknown role {role[:20]!r}", code="invalid_input", fix=f"use one of {[r.value for r in Role]}"
        ) from None


def create_operator(email: str, password: str, role: str, *, actor: str | None = None) -> Operator:
    email = _check_email(email)
    checked_role = _check_role(role)
    if len(password) < MIN_PASSWORD:
        raise ControlPlaneError(
            f"the password is too short ({len(password)} characters)",
            code="invalid_input",
            fix=f"use at least {MIN_PASSWORD} characters",
        )
    if db.session.scalar(sa.select(Operator).where(Operator.email == email)):
        raise ControlPlaneError(f"operator {email} exists", code="conflict", fix="pick another email")
    operator = Operator(email=email, role=checked_role.value)
    operator.set_password(password)
    db.session.add(operator)
    db.session.flush()
    audit.record("operator.create", "operator", email, after={"role": checked_role.value}, actor=actor)
    db.session.commit()
    return operator


def authenticate(email: str, password: str) -> Operator | None:
    operator = db.session.scalar(sa.select(Operator).where(Operator.email == email.strip().lower()))
    if operator is None or not operator.active or not operator.check_password(password):
        return None
    return operator


def by_email(email: str) -> Operator | None:
    return db.session.scalar(sa.select(Operator).where(Operator.email == email.strip().lower()))


def set_role(email: str, role: str) -> Operator:
    operator = by_email(email)
    if operator is None:
        raise ControlPlaneError(f"no operator {email[:80]!r}", code="not_found")
    checked = _check_role(role)
    before = {"role": operator.role}
    operator.role = checked.value
    audit.record("operator.role", "operator", operator.email, before=before, after={"role": checked.value})
    db.session.commit()
    return operator
