"""Template version pages: list, add a candidate, release."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import login_required

from b2brec.errors import B2BRecError
from control_plane.auth.access import require
from control_plane.auth.models import Role
from control_plane.errors import status_of
from control_plane.templates import services
from control_plane.web import actor, form_error

bp = Blueprint("templates", __name__, url_prefix="/templates")


def _page(status: int = 200) -> Any:
    return render_template(
        "templates/index.html", versions=services.list_versions(), kept=services.deployable()
    ), status


@bp.get("/")
@login_required
def index() -> Any:
    return _page()


@bp.post("/")
@require(Role.ADMIN)
def add() -> Any:
    try:
        services.add_candidate(
            request.form.get("version", "").strip(),
            notes=request.form.get("notes", ""),
            images=services.parse_digests(request.form.get("images", "")),
            actor=actor(),
        )
    except B2BRecError as exc:
        form_error(exc)
        return _page(status_of(exc))
    return redirect(url_for("templates.index"))


@bp.post("/<version>/release")
@require(Role.ADMIN)
def release(version: str) -> Any:
    try:
        services.release(version, actor=actor())
    except B2BRecError as exc:
        form_error(exc)
        return _page(status_of(exc))
    return redirect(url_for("templates.index"))
