"""JSON: connections (never with a password), test results, proposed mapping."""

from __future__ import annotations

from dataclasses import asdict

from flask import Response, request

from client_app.auth.roles import require_role
from client_app.connections import bp, services
from client_app.models import Connection
from client_app.responses import ok


def _public(conn: Connection) -> dict[str, object]:
    return {
        "id": conn.id,
        "name": conn.name,
        "kind": conn.kind,
        "host": conn.host,
        "port": conn.port,
        "database": conn.database,
        "username": conn.username,
        "has_password": bool(conn.password_secret),
        "mapping": conn.mapping,
        "last_test_ok": conn.last_test_ok,
    }


@bp.get("/api/")
@require_role("viewer")
def api_list() -> tuple[Response, int]:
    return ok("connections", [_public(c) for c in services.all_connections()])


@bp.post("/api/")
@require_role("admin")
def api_create() -> tuple[Response, int]:
    conn = services.save_database(request.get_json(silent=True) or {})
    return ok(f"connection {conn.name} saved", _public(conn), 201)


@bp.post("/api/<int:connection_id>/test")
@require_role("member")
def api_test(connection_id: int) -> tuple[Response, int]:
    checks = services.test(connection_id)
    passed = all(c.ok for c in checks)
    return ok(
        "all checks passed" if passed else "some checks failed", {"ok": passed, "checks": [asdict(c) for c in checks]}
    )


@bp.get("/api/<int:connection_id>/proposal")
@require_role("viewer")
def api_proposal(connection_id: int) -> tuple[Response, int]:
    return ok("proposed mapping", services.proposed_mapping(connection_id))
