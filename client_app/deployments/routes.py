"""Deployments page: live version, deploy / roll back, history, endpoint, API keys, samples."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from b2brec.errors import B2BRecError
from client_app.auth.roles import require_role
from client_app.client import current_client
from client_app.deployments import bp, services
from client_app.errors import fix_of


def _flash(exc: B2BRecError) -> None:
    flash(f"{exc.message}" + (f" — how to fix: {fix_of(exc)}" if fix_of(exc) else ""), "error")


def _page(new_key: str | None = None) -> str:
    state = services.serving_state()
    return render_template(
        "deployments/index.html",
        state=state,
        live=services.current_version(),
        versions=list(reversed(services.versions())),
        history=services.history(),
        keys=services.keys(),
        new_key=new_key,
        endpoint=current_client().serving_url,
    )


@bp.get("/")
@require_role("viewer")
def index() -> str:
    return _page()


@bp.post("/deploy")
@require_role("member")
def deploy() -> Response:
    try:
        record = services.deploy(request.form.get("version", ""), current_user.email)
        flash(f"model {record.version} is live; the serving API switches to it within seconds", "info")
    except B2BRecError as exc:
        _flash(exc)
    return redirect(url_for("deployments.index"))


@bp.post("/rollback")
@require_role("member")
def rollback() -> Response:
    try:
        record = services.rollback(current_user.email)
        flash(f"rolled back to {record.version}", "info")
    except B2BRecError as exc:
        _flash(exc)
    return redirect(url_for("deployments.index"))


@bp.post("/keys")
@require_role("admin")
def create_key() -> str | Response:
    try:
        _, key = services.create_key(request.form.get("name"), current_user.email)
    except B2BRecError as exc:
        _flash(exc)
        return redirect(url_for("deployments.index"))
    return _page(new_key=key)


@bp.post("/keys/<int:key_id>/revoke")
@require_role("admin")
def revoke_key(key_id: int) -> Response:
    try:
        services.revoke_key(key_id, current_user.email)
        flash("key revoked (the serving API stops accepting it within a minute)", "info")
    except B2BRecError as exc:
        _flash(exc)
    return redirect(url_for("deployments.index"))
