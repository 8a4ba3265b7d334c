"""JSON: versions, deploy, roll back, history, API keys (admins)."""

from __future__ import annotations

from flask import Response, request
from flask_login import current_user

from b2brec.live import Deployment
from client_app.auth.roles import require_role
from client_app.deployments import bp, services
from client_app.responses import ok


def _deployment(d: Deployment) -> dict[str, object]:
    return {"at": d.at, "actor": d.actor, "from": d.previous, "to": d.version, "action": d.action, "reason": d.reason}


@bp.get("/api/")
@require_role("viewer")
def api_state() -> tuple[Response, int]:
    return ok(
        "deployments",
        {
            "live": services.current_version(),
            "serving": services.serving_state(),
            "versions": services.versions(),
            "history": [_deployment(d) for d in services.history()],
        },
    )


@bp.post("/api/deploy")
@require_role("member")
def api_deploy() -> tuple[Response, int]:
    body = request.get_json(silent=True) or {}
    record = services.deploy(str(body.get("version", "")), current_user.email)
    return ok(f"model {record.version} is live", _deployment(record))


@bp.post("/api/rollback")
@require_role("member")
def api_rollback() -> tuple[Response, int]:
    return ok("rolled back", _deployment(services.rollback(current_user.email)))


@bp.get("/api/keys")
@require_role("admin")
def api_keys() -> tuple[Response, int]:
    return ok(
        "API keys",
        [
            {"id": k.id, "name": k.name, "prefix": k.prefix, "revoked": k.revoked_at is not None}
            for k in services.keys()
        ],
    )


@bp.post("/api/keys")
@require_role("admin")
def api_create_key() -> tuple[Response, int]:
    record, key = services.create_key((request.get_json(silent=True) or {}).get("name"), current_user.email)
    return ok("key created: store it now, it is not shown again", {"id": record.id, "key": key}, 201)
