"""JSON: feature availability and what a choice keeps."""

from __future__ import annotations

from flask import Response, request

from client_app import validation
from client_app.auth.roles import require_role
from client_app.features import bp, services
from client_app.responses import ok


@bp.get("/api/")
@require_role("viewer")
def api_features() -> tuple[Response, int]:
    return ok("features", {"features": services.availability(), "choices": services.chosen_options()})


@bp.get("/api/kept")
@require_role("viewer")
def api_kept() -> tuple[Response, int]:
    days = validation.integer(request.args.get("window_days"), "window (days)", low=7, high=3650, default=90)
    coverage = validation.number(
        request.args.get("revenue_coverage"), "revenue coverage", low=0.05, high=1, default=0.8
    )
    return ok("kept", services.kept(days, coverage))
