"""JSON: who am I, and user management for admins."""

from __future__ import annotations

from flask import Response, request
from flask_login import current_user, login_required

from client_app.auth import bp, services
from client_app.auth.roles import require_role
from client_app.extensions import db
from client_app.models import User
from client_app.responses import ok


def _user(user: User) -> dict[str, object]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "active": user.active}


@bp.get("/api/me")
@login_required
def me() -> tuple[Response, int]:
    return ok("signed in", _user(current_user))


@bp.get("/api/users")
@require_role("admin")
def list_users() -> tuple[Response, int]:
    users = db.session.scalars(db.select(User).order_by(User.email))
    return ok("users", [_user(u) for u in users])


@bp.post("/api/users")
@require_role("admin")
def create_user() -> tuple[Response, int]:
    body = request.get_json(silent=True) or {}
    user = services.create_user(
        body.get("email"), body.get("name"), body.get("role"), body.get("password"), actor=current_user.email
    )
    return ok(f"user {user.email} created", _user(user), 201)
