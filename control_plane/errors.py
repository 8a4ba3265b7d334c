"""The control plane's error model: a ``B2BRecError`` with a code, a fix and an HTTP status,
rendered as ``{status: "error", message, data: {code, fix}}`` for the API and as a page for
browser routes. Messages are safe to show (never a password, a stack trace or a DSN)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from b2brec.errors import B2BRecError

STATUS_BY_CODE: dict[str, int] = {
    "invalid_input": 400,
    "host_refused": 400,
    "path_refused": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "project_not_found": 404,
    "conflict": 409,
    "version_not_deployable": 409,
    "rollout_running": 409,
    "provisioning_failed": 502,
}


class ControlPlaneError(B2BRecError):
    """A failure an operator can act on: ``code`` picks the HTTP status, ``fix`` says what to do."""

    def __init__(self, message: str, *, code: str, fix: str = "", http_status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.fix = fix
        self.status_code = http_status or STATUS_BY_CODE.get(code, 400)


def status_of(err: B2BRecError) -> int:
    for attr in ("status_code", "http_status"):
        value = getattr(err, attr, None)
        if isinstance(value, int):
            return value
    return STATUS_BY_CODE.get(err.code, 400)


def fix_of(err: B2BRecError) -> str:
    return str(getattr(err, "fix", "") or "")


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
        fix = "ask an admin for the operator role" if err.code == 403 else ""
        description = err.description or err.name
        if err.code == 400 and "CSRF" in (description or ""):
            code, fix = "csrf_failed", "reload the page and submit the form again"
        return _render(description, code, fix, err.code or 500)
