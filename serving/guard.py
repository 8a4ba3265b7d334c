"""The request guard: credentials first, then a bounded body, before any route or parser runs.

FastAPI reads and parses a request's body *before* it resolves the dependencies that check the
API key, so an anonymous caller could make the service read and parse any amount of JSON (a 54 MB
body took 2.5 s and 440 MB). This pure-ASGI middleware sits in front of the routing:

1. protected paths (``/recommend``, ``/recommend-batch``, ``/model-info``, ``/admin/...``) are
   refused with 401/403 from the headers alone: the body is never read;
2. a body over ``max_body_bytes`` gets 413: at once when ``Content-Length`` says so, else as soon
   as the streamed bytes pass the cap (so at most the cap is ever held in memory);
3. a JSON body that is not UTF-8 gets 422 (the framework would answer 400);
4. the body read here is handed on unchanged, so routes and dependencies see the request as sent.

The dependencies in ``deps.py`` run the same checks again (they document the headers in the
OpenAPI schema, and keep a route safe if it is ever mounted without this guard).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from b2brec.errors import B2BRecError
from serving.deps import admin_refusal, api_key_refusal

API_KEY_PATHS = frozenset({"/recommend", "/recommend-batch", "/model-info"})
ADMIN_PREFIX = "/admin"


class BodyTooLarge(Exception):
    pass


async def _respond(send: Send, status: int, message: str, data: dict[str, Any] | None = None) -> None:
    body = json.dumps({"status": "error", "message": message, "data": data}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _refusal(self, scope: Scope, headers: Headers) -> B2BRecError | None:
        state = scope["app"].state
        path: str = scope["path"]
        if path in API_KEY_PATHS:
            return api_key_refusal(state.fail_closed, state.credentials, headers.get("x-api-key"))
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return admin_refusal(state.fail_closed, state.credentials, headers.get("authorization"))
        return None

    async def _read_body(self, receive: Receive, declared: int | None) -> bytes:
        if declared is not None and declared > self.max_body_bytes:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _respond(send, refusal.http_status, refusal.message, {"code": refusal.code, "fix": refusal.fix})
            return
        if scope["method"] in {"GET", "HEAD", "OPTIONS"} and "content-length" not in headers:
            await self.app(scope, receive, send)
            return
        try:
            declared = int(headers["content-length"]) if "content-length" in headers else None
        except ValueError:
            await _respond(send, 400, "the Content-Length header is not a number")
            return
        try:
            body = await self._read_body(receive, declared)
        except BodyTooLarge:
            await _respond(
                send,
                413,
                f"the request body is larger than {self.max_body_bytes:,} bytes; send fewer customers per batch",
                {"code": "body_too_large", "limit_bytes": self.max_body_bytes},
            )
            return
        content_type = headers.get("content-type", "").lower()
        if body and (not content_type or "json" in content_type):  # FastAPI parses both as JSON
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                await _respond(
                    send,
                    422,
                    "invalid request: the body is not valid UTF-8 JSON",
                    {"errors": [{"field": "body", "problem": "not valid UTF-8"}]},
                )
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would send

        await self.app(scope, replay, send)
