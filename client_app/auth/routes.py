"""Sign-in, sign-out, password reset and the users page."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from client_app import activity
from client_app.auth import bp, services
from client_app.auth.roles import require_role
from client_app.errors import AppError
from client_app.extensions import db
from client_app.models import ROLES, User


def _safe_next(target: str | None) -> str:
    """Only same-site paths (``/x``), never ``//host`` or ``https://host``: no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if request.method == "POST":
        user = services.authenticate(request.form.get("email", ""), request.form.get("password", ""))
        if user is None:
            flash("email or password is wrong (or the account is disabled)", "error")
            return render_template("auth/login.html"), 401  # type: ignore[return-value]
        login_user(user)
        activity.record("user.login", user.email, actor=user.email)
        db.session.commit()
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html")


@bp.post("/logout")
@login_required
def logout() -> Response:
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/forgot", methods=["GET", "POST"])
def forgot() -> str:
    if request.method == "POST":
        services.request_reset(request.form.get("email", ""))
        flash("if that address belongs to a user, a reset link is on its way", "info")
    return render_template("auth/forgot.html")


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> str | Response:
    if request.method == "POST":
        try:
            services.reset_password(token, request.form.get("password", ""))
        except AppError as exc:
            flash(f"{exc.message}: {exc.fix}", "error")
            return render_template("auth/reset.html", token=token)
        flash("password changed; sign in with the new one", "info")
        return redirect(url_for("auth.login"))
    services.user_for_token(token)  # an invalid link shows its error page straight away
    return render_template("auth/reset.html", token=token)


@bp.route("/users", methods=["GET", "POST"])
@require_role("admin")
def users() -> str | Response:
    if request.method == "POST":
        form = request.form
        try:
            user = services.create_user(
                form.get("email"), form.get("name"), form.get("role"), form.get("password"), actor=current_user.email
            )
        except AppError as exc:
            flash(f"{exc.message}: {exc.fix}", "error")
            return render_template("auth/users.html", users=_all(), roles=ROLES, form=form), 400  # type: ignore[return-value]
        flash(f"user {user.email} created", "info")
        return redirect(url_for("auth.users"))
    return render_template("auth/users.html", users=_all(), roles=ROLES, form={})


@bp.post("/users/<int:user_id>")
@require_role("admin")
def update_user(user_id: int) -> Response:
    try:
        services.set_role(user_id, request.form.get("role", ""), active=request.form.get("active") == "on")
    except AppError as exc:
        flash(f"{exc.message}: {exc.fix}", "error")
    return redirect(url_for("auth.users"))


def _all() -> list[User]:
    return list(db.session.scalars(db.select(User).order_by(User.email)))
