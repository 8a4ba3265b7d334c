"""Datasets: browse the warehouse tables, paged previews, row counts, date coverage, saved views."""

from flask import Blueprint

bp = Blueprint("datasets", __name__, url_prefix="/datasets")

from client_app.datasets import api, routes  # noqa: E402,F401
