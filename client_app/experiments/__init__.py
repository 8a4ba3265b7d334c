"""Experiments: runs with their metrics, side-by-side comparison with the baselines, MLflow link."""

from flask import Blueprint

bp = Blueprint("experiments", __name__, url_prefix="/experiments")

from client_app.experiments import api, routes  # noqa: E402,F401
