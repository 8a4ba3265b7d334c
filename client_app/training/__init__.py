"""Training: launch with defaults or adjusted settings, live per-stage progress, cancel, resume."""

from flask import Blueprint

bp = Blueprint("training", __name__, url_prefix="/training")

from client_app.training import api, routes  # noqa: E402,F401
