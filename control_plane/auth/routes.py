"""Sign-in and sign-out pages; IAP identity on GCP."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from control_plane.auth import services
from control_plane.auth.iap import IAP_HEADER, IapVerifier
from control_plane.auth.models import Operator
from control_plane.extensions import db, login_manager

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


@login_manager.user_loader
def _load(user_id: str) -> Operator | None:
    return db.session.get(Operator, int(user_id)) if user_id.isdigit() else None


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    from control_plane.errors import wants_json

    if wants_json():
        from flask import abort

        abort(401, description="sign in first (POST /login, or through IAP on GCP)")
    return redirect(url_for("auth.login", next=request.path))


def verify_iap() -> None:
    """Before every request on GCP: the IAP assertion must verify and name a known operator."""
    verifier: IapVerifier | None = current_app.extensions.get("iap_verifier")
    if verifier is None or request.endpoint in {"static", "health.live"}:
        return
    identity = verifier.verify(request.headers.get(IAP_HEADER))
    operator = services.by_email(identity.email)
    if operator is None or not operator.is_active:
        from control_plane.errors import ControlPlaneError

        raise ControlPlaneError(
            f"{identity.email} passed IAP but is not an operator here",
            code="forbidden",
            fix="ask an admin to add you as an operator",
        )
    g.iap_email = identity.email
    if not current_user.is_authenticated or current_user.id != operator.id:
        login_user(operator)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        operator = services.authenticate(form.email.data or "", form.password.data or "")
        if operator is not None:
            login_user(operator)
            target = request.args.get("next", "")
            # only local paths: never an open redirect
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("clients.index")
            return redirect(target)
        flash("Wrong email or password.", "error")
    elif request.method == "POST":
        flash("Fill in email and password.", "error")
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    logout_user()
    return redirect(url_for("auth.login"))
