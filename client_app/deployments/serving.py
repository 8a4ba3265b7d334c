"""Calls to the client's serving API: its admin endpoints (deploy, roll back, versions)."""

from __future__ import annotations

from typing import Any

import httpx

from b2brec.backends.secrets import SecretNotFound
from client_app.client import current_client
from client_app.errors import AppError

ADMIN_TOKEN_SECRET = "serving-admin-token"
TIMEOUT_S = 120.0


def _headers() -> dict[str, str]:
    try:
        token = current_client().backends.secrets.get(ADMIN_TOKEN_SECRET).strip()
    except SecretNotFound:
        return {}
    return {"Authorization": f"Bearer {token}"} if token else {}


def admin(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    url = current_client().serving_url
    try:
        response = httpx.request(method, f"{url}/admin/{path}", json=body, headers=_headers(), timeout=TIMEOUT_S)
    except httpx.HTTPError:
        raise AppError(
            f"the serving API at {url} did not answer",
            code="serving_unavailable",
            fix="start it (b2brec serve --client CLIENT), then retry",
        ) from None
    payload = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code >= 400:
        message = str(payload.get("message") or f"HTTP {response.status_code}")[:300]
        raise AppError(f"the serving API refused: {message}", code="serving_unavailable", fix="see the serving log")
    return dict(payload.get("data") or {})
