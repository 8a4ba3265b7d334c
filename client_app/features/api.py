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
    current = services.current_choice()  # without arguments: what the next run would keep
    days = validation.integer(
        request.args.get("window_days"), "window (days)", low=7, high=3650, default=int(current["window_days"])
    )
    coverage = validation.number(
        request.args.get("revenue_coverage"),
        "revenue coverage",
        low=0.05,
        high=1,
        default=float(current["revenue_coverage"]),
    )
    return ok("kept", services.kept(days, coverage))
