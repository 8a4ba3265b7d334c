"""Monitoring: prediction volume and fallback rate over time, latency, cost per run and month."""

from flask import Blueprint

bp = Blueprint("monitoring", __name__, url_prefix="/monitoring")

from client_app.monitoring import api, routes  # noqa: E402,F401
