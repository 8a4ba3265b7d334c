"""JSON sign-in for scripts: POST /api/login returns a session cookie and a CSRF token to send
back as ``X-CSRFToken`` on every later POST."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_login import login_user
from flask_wtf.csrf import generate_csrf

from control_plane.auth import services
from control_plane.errors import ControlPlaneError
from control_plane.extensions import csrf
from control_plane.responses import ok

bp = Blueprint("auth_api", __name__, url_prefix="/api")


@bp.get("/csrf")
def token() -> Any:
    return ok({"csrf_token": generate_csrf()})


@bp.post("/login")
@csrf.exempt
def login() -> Any:
    payload = request.get_json(silent=True) or {}
    operator = services.authenticate(str(payload.get("email", "")), str(payload.get("password", "")))
    if operator is None:
        raise ControlPlaneError("wrong email or password", code="unauthenticated", fix="check both and retry")
    login_user(operator)
    return ok({"email": operator.email, "role": operator.role, "csrf_token": generate_csrf()}, "signed in")
