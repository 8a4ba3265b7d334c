"""Connections: source databases and uploaded files, their test, and the column mapping."""

from flask import Blueprint

bp = Blueprint("connections", __name__, url_prefix="/connections")

from client_app.connections import api, routes  # noqa: E402,F401
