"""Dashboard: data freshness, last runs, the live model against the baselines, volume and cost."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

from client_app.dashboard import api, routes  # noqa: E402,F401
