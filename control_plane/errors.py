"""The control plane's error model: a ``B2BRecError`` with a code, a fix and an HTTP status,
rendered as ``{status: "error", message, data: {code, fix}}`` for the API and as a page for
browser routes. Messages are safe to show (never a password, a stack trace or a DSN)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from b2brec.errors import B2BRecError, lookup, register

# the control plane's own codes, registered once in the platform's registry (b2brec.errors)
# invalid_input, unauthenticated, forbidden, not_found and conflict are the platform's generic web codes
# (b2brec.errors); a raise passes fix= where the control plane knows a better one.
register("version_not_deployable", 409, "template version not deployable", "use one of the last released versions")
register("rollout_running", 409, "another rollout is running", "wait for it to finish or halt it first")
register("provisioning_failed", 502, "provisioning failed", "see the job's log, fix the cause and resume the job")
register("csrf_failed", 400, "form expired or forged", "reload the page and submit the form again")
register("http_error", 500, "request failed", "retry; if it persists, see the app's log")


class ControlPlaneError(B2BRecError):
    """A failure an operator can act on: the registry maps ``code`` to an HTTP status; ``fix``
    overrides the registry's default fix for this occurrence."""

    def __init__(self, message: str, *, code: str, fix: str | None = None) -> None:
        super().__init__(message, code=code, fix=fix)


def status_of(err: B2BRecError) -> int:
    return err.http_status


def fix_of(err: B2BRecError) -> str:
    return err.fix or ""


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def envelope(status: str, message: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"status": status, "message": message, "data": data or {}}


def _render(message: str, code: str, fix: str, http_status: int) -> tuple[Response | str, int]:
    if wants_json():
        from flask import jsonify

        return jsonify(envelope("error", message, {"code": code, "fix": fix})), http_status
    return render_template("error.html", message=message, code=code, fix=fix, http_status=http_status), http_status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(B2BRecError)
    def _domain(err: B2BRecError) -> tuple[Response | str, int]:
        return _render(err.message, err.code, fix_of(err), status_of(err))

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> tuple[Response | str, int]:
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}.get(err.code or 500, "http_error")
        fix = lookup(code).fix or "" if code != "http_error" else ""
        description = err.description or err.name
        if err.code == 400 and "CSRF" in (description or ""):
            code, fix = "csrf_failed", "reload the page and submit the form again"
        return _render(description, code, fix, err.code or 500)
