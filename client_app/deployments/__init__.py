"""Deployments: the live version, deploy and roll back, history, endpoint, API keys, sample code."""

from flask import Blueprint

bp = Blueprint("deployments", __name__, url_prefix="/deployments")

from client_app.deployments import api, routes  # noqa: E402,F401
