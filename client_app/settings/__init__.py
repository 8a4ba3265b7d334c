"""Settings: template version and its notice, activity log (admins)."""

from flask import Blueprint

bp = Blueprint("settings", __name__, url_prefix="/settings")

from client_app.settings import api, routes  # noqa: E402,F401
