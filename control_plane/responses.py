"""The JSON shape every API endpoint answers with: ``{status, message, data}``."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from control_plane.errors import envelope


def ok(data: dict[str, Any] | None = None, message: str = "ok", status: int = 200) -> tuple[Response, int]:
    return jsonify(envelope("success", message, data)), status
