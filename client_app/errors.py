"""One error model for the app: a ``B2BRecError`` code decides the HTTP status; one handler renders
JSON (``{status, message, data: {code, fix}}``) for API calls and an HTML page for browser routes.
Messages are safe to show (domain errors never carry secrets); anything else is logged, not shown.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from b2brec.errors import B2BRecError, register
from client_app.responses import fail

log = logging.getLogger("client_app")

# The app's own codes (the rest come from b2brec.errors); each once, with its status and default fix.
register("quota_reached", 429, "monthly quota reached", "wait for next month, or ask for a higher quota")
register("serving_unavailable", 502, "the serving API did not answer", "start it, then retry")
register("warehouse_busy", 503, "the warehouse is busy", "wait a few seconds and reload")
register("sql_refused", 400, "SQL refused", "write one SELECT over your datasets")


class AppError(B2BRecError):
    """An error of the app itself; ``fix`` says what the user can do.

    ``code`` defaults to ``invalid_input`` (400) because nearly every raise is a form or field the user
    can correct; anything else (not found, conflict, quota, refused SQL, ...) passes its own code."""

    def __init__(self, message: str, *, code: str = "invalid_input", fix: str | None = None) -> None:
        super().__init__(message, code=code, fix=fix)


def status_of(err: B2BRecError) -> int:
    return err.http_status


def fix_of(err: BaseException) -> str | None:
    fix = getattr(err, "fix", None)
    return str(fix) if fix else None


def wants_json() -> bool:
    return "/api/" in request.path or request.accept_mimetypes.best == "application/json"


def _render(status: int, message: str, code: str, fix: str | None) -> tuple[Response | str, int]:
    if wants_json():
        return fail(message, status=status, code=code, fix=fix)
    return render_template("error.html", status=status, message=message, code=code, fix=fix), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(B2BRecError)
    def domain_error(err: B2BRecError) -> tuple[Response | str, int]:
        return _render(status_of(err), err.message, err.code, fix_of(err))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[Response | str, int]:
        status = err.code or 500
        message = err.description or err.name
        return _render(status, message, err.name.lower().replace(" ", "_"), None)

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> tuple[Response | str, int]:
        log.exception("unexpected error on %s", request.path)
        return _render(500, "something went wrong on our side; the error is logged", "internal_error", None)
