"""Small helpers shared by the HTML routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, render_template
from flask_login import current_user

from b2brec.errors import B2BRecError
from control_plane.errors import ControlPlaneError, fix_of, status_of


def actor() -> str:
    return str(current_user.email) if current_user.is_authenticated else "anonymous"


def form_error(exc: B2BRecError) -> None:
    fix = fix_of(exc)
    flash(exc.message + (f" — {fix}" if fix else ""), "error")


def render_or_error(template: str, action: Callable[[], Any], **context: Any) -> Any:
    """Run ``action``; on a domain error re-render ``template`` with the message and its status."""
    try:
        return action()
    except B2BRecError as exc:
        form_error(exc)
        return render_template(template, **context), status_of(exc)


__all__ = ["ControlPlaneError", "actor", "form_error", "render_or_error"]
