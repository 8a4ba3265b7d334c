"""One error model: each domain error's code is looked up in the platform registry (b2brec.errors) for its
HTTP status and fix, and every error is rendered in the response shape."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from b2brec.errors import B2BRecError

log = logging.getLogger("serving.errors")


class Unauthorized(B2BRecError):
    code = "unauthorized"


class AdminDisabled(B2BRecError):
    code = "admin_disabled"


class ApiDisabled(B2BRecError):
    code = "api_disabled"


def error(status: int, message: str, data: dict | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message, "data": data}, status_code=status, headers=headers)


def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


def register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        message = "invalid request: " + "; ".join(problems[:5]) + ("" if len(problems) <= 5 else " ...")
        details = [{"field": _where(tuple(e.get("loc", ()))), "problem": e.get("msg", "")} for e in exc.errors()[:20]]
        return error(422, message, {"errors": details})

    @app.exception_handler(B2BRecError)
    async def _domain(request: Request, exc: B2BRecError) -> JSONResponse:
        return error(exc.http_status, exc.message, {"code": exc.code, "fix": exc.fix})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error(500, "internal error; the service logged the details")
