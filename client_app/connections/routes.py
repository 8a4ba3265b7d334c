"""Connection pages: list and add, edit, test (each check with its fix), mapping editor, preview."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from b2brec.errors import B2BRecError
from b2brec.features import PLATFORM_TABLES
from client_app.auth.roles import require_role
from client_app.connections import bp, services
from client_app.errors import fix_of


def _error(exc: B2BRecError) -> None:
    fix = fix_of(exc)
    flash(f"{exc.message}" + (f" — how to fix: {fix}" if fix else ""), "error")


@bp.get("/")
@require_role("viewer")
def index() -> str:
    return render_template(
        "connections/index.html",
        connections=services.all_connections(),
        kinds=services.KIND_LABELS,
        database_kinds=services.DATABASE_KINDS,
        file_kinds=services.FILE_KINDS,
        form={},
    )


@bp.post("/")
@require_role("admin")
def create() -> str | Response:
    try:
        conn = services.save_database(request.form.to_dict())
    except B2BRecError as exc:
        _error(exc)
        # never echo a password, nor a refused host (it may be a secret pasted into the wrong field)
        dropped = {"password", "csrf_token"} | ({"host"} if exc.code == "host_refused" else set())
        form = {k: v for k, v in request.form.items() if k not in dropped}
        page = render_template(
            "connections/index.html",
            connections=services.all_connections(),
            kinds=services.KIND_LABELS,
            database_kinds=services.DATABASE_KINDS,
            file_kinds=services.FILE_KINDS,
            form=form,
        )
        return page, 400  # type: ignore[return-value]
    flash(f"connection {conn.name} saved; the password is stored as a secret and will not be shown again", "info")
    return redirect(url_for("connections.detail", connection_id=conn.id))


@bp.post("/upload")
@require_role("admin")
def upload() -> Response:
    try:
        conn = services.save_upload(request.form.to_dict(), request.files.getlist("files"))
    except B2BRecError as exc:
        _error(exc)
        return redirect(url_for("connections.index"))
    return redirect(url_for("connections.detail", connection_id=conn.id))


@bp.get("/<int:connection_id>")
@require_role("viewer")
def detail(connection_id: int) -> str:
    conn = services.get(connection_id)
    schema: dict[str, list[str]] = {}
    proposal: dict[str, dict[str, object]] = {}
    try:
        schema = services.introspect(connection_id)
        proposal = conn.mapping or services.proposed_mapping(connection_id)
    except B2BRecError as exc:
        _error(exc)
    return render_template(
        "connections/detail.html",
        conn=conn,
        kinds=services.KIND_LABELS,
        database_kinds=services.DATABASE_KINDS,
        schema=schema,
        proposal=proposal,
        platform=PLATFORM_TABLES,
        checks=None,
    )


@bp.post("/<int:connection_id>")
@require_role("admin")
def update(connection_id: int) -> Response:
    try:
        services.save_database(request.form.to_dict(), connection_id=connection_id)
        flash("connection saved", "info")
    except B2BRecError as exc:
        _error(exc)
    return redirect(url_for("connections.detail", connection_id=connection_id))


@bp.post("/<int:connection_id>/test")
@require_role("member")
def test(connection_id: int) -> str:
    checks = services.test(connection_id)
    return render_template("connections/_checks.html", checks=checks)


@bp.post("/<int:connection_id>/mapping")
@require_role("admin")
def mapping(connection_id: int) -> Response:
    try:
        services.save_mapping(connection_id, request.form.to_dict())
        flash("mapping saved; run the connection test to check it", "info")
    except B2BRecError as exc:
        _error(exc)
    return redirect(url_for("connections.detail", connection_id=connection_id))


@bp.get("/<int:connection_id>/preview/<platform_table>")
@require_role("viewer")
def preview(connection_id: int, platform_table: str) -> str:
    return render_template("connections/_preview.html", preview=services.preview(connection_id, platform_table))


@bp.post("/<int:connection_id>/delete")
@require_role("admin")
def delete(connection_id: int) -> Response:
    services.delete(connection_id)
    flash("connection deleted (and its stored password)", "info")
    return redirect(url_for("connections.index"))
