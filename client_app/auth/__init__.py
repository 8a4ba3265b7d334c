"""Users: sign-in, roles, password reset by email, user management (admins)."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from client_app.auth import api, routes  # noqa: E402,F401  (routes attach to bp)
