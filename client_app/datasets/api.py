"""JSON: tables with row counts, a page of a table, saved views."""

from __future__ import annotations

from flask import Response, request
from flask_login import current_user

from client_app.auth.roles import require_role
from client_app.datasets import bp, services
from client_app.responses import ok


def _plain(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [
        {k: (v if isinstance(v, int | float | str | bool) or v is None else str(v)) for k, v in r.items()} for r in rows
    ]


@bp.get("/api/tables")
@require_role("viewer")
def api_tables() -> tuple[Response, int]:
    return ok("tables", services.tables())


@bp.get("/api/tables/<dataset>/<table>")
@require_role("viewer")
def api_page(dataset: str, table: str) -> tuple[Response, int]:
    number = request.args.get("page", "1")
    data = services.page(dataset, table, int(number) if number.isdigit() else 1)
    return ok("rows", {**data, "rows": _plain(data["rows"])})


@bp.post("/api/views")
@require_role("member")
def api_create_view() -> tuple[Response, int]:
    body = request.get_json(silent=True) or {}
    view = services.save_view(body.get("name"), body.get("sql"), current_user.email)
    return ok(f"view {view.name} saved", {"id": view.id}, 201)
