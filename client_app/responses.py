"""The JSON shape every API endpoint answers with: ``{status, message, data}``."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def ok(message: str, data: Any = None, status: int = 200) -> tuple[Response, int]:
    return jsonify({"status": "success", "message": message, "data": data if data is not None else {}}), status


def fail(message: str, *, status: int, code: str, fix: str | None = None) -> tuple[Response, int]:
    return jsonify({"status": "error", "message": message, "data": {"code": code, "fix": fix}}), status
