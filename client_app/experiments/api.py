"""JSON: finished runs with their metrics, and a comparison."""

from __future__ import annotations

from flask import Response, request

from client_app.auth.roles import require_role
from client_app.experiments import bp, services
from client_app.responses import ok


@bp.get("/api/runs")
@require_role("viewer")
def api_runs() -> tuple[Response, int]:
    runs = services.finished_runs()
    return ok(f"{len(runs)} finished runs", runs)


@bp.get("/api/compare")
@require_role("viewer")
def api_compare() -> tuple[Response, int]:
    result = services.compare(request.args.getlist("run"))
    return ok("comparison", {"ks": result["ks"], "series": result["series"]})
