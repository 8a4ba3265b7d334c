"""Features: which of the eight features the mapping provides, the window and revenue coverage."""

from flask import Blueprint

bp = Blueprint("features", __name__, url_prefix="/features")

from client_app.features import api, routes  # noqa: E402,F401
