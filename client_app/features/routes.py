"""Features page."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from b2brec.errors import B2BRecError
from client_app.auth.roles import require_role
from client_app.client import current_client
from client_app.errors import fix_of
from client_app.features import bp, services


def _current() -> dict[str, float]:
    p = current_client().base_spec.pipeline
    return {"window_days": p.window_days, "revenue_coverage": p.revenue_coverage, **services.chosen_options()}


@bp.get("/")
@require_role("viewer")
def index() -> str:
    current = _current()
    return render_template(
        "features/index.html",
        features=services.availability(),
        current=current,
        kept=services.kept(int(current["window_days"]), float(current["revenue_coverage"])),
    )


@bp.post("/")
@require_role("member")
def save() -> Response:
    try:
        services.save(request.form.to_dict(), current_user.email)
        flash("saved: the next training run uses these choices", "info")
    except B2BRecError as exc:
        flash(f"{exc.message} — how to fix: {fix_of(exc) or ''}", "error")
    return redirect(url_for("features.index"))
