"""ETL: run now, schedule (cron, next runs in the client's time zone), run history, logs."""

from flask import Blueprint

bp = Blueprint("etl", __name__, url_prefix="/etl")

from client_app.etl import api, routes  # noqa: E402,F401
