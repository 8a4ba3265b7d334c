"""Features page: which features are used, window, time decay and revenue coverage, and what a
choice keeps (shown before it is saved, and before training)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from b2brec.errors import B2BRecError
from client_app.auth.roles import require_role
from client_app.errors import fix_of
from client_app.features import bp, services


def _current() -> dict[str, Any]:
    return services.current_choice()


def _page(choice: dict[str, Any], *, preview: bool = False, status: int = 200) -> tuple[str, int]:
    return (
        render_template(
            "features/index.html",
            features=services.availability(),
            current=choice,
            preview=preview,
            kept=services.kept(int(choice["window_days"]), float(choice["revenue_coverage"])),
        ),
        status,
    )


@bp.get("/")
@require_role("viewer")
def index() -> tuple[str, int]:
    return _page(_current())


@bp.post("/preview")
@require_role("viewer")
def preview() -> tuple[str, int]:
    """What the submitted choice would keep, shown without saving it."""
    try:
        return _page(services.parse(request.form.to_dict(), request.form.getlist("features")), preview=True)
    except B2BRecError as exc:
        flash(f"{exc.message} — how to fix: {fix_of(exc) or ''}", "error")
        return _page(_current(), status=400)


@bp.post("/")
@require_role("member")
def save() -> Response | tuple[str, int]:
    try:
        services.save(request.form.to_dict(), request.form.getlist("features"), current_user.email)
    except B2BRecError as exc:
        flash(f"{exc.message} — how to fix: {fix_of(exc) or ''}", "error")
        return _page(_current(), status=400)
    flash("saved: the next training run uses these choices", "info")
    return redirect(url_for("features.index"))
