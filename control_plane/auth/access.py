"""Who may do what: every mutating route is wrapped in :func:`require`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user

from control_plane.auth.models import Role

F = TypeVar("F", bound=Callable[..., Any])


def require(role: Role) -> Callable[[F], F]:
    """Allow the view only to signed-in operators holding ``role`` or above (403 otherwise)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                abort(401)
            if not current_user.can(role):
                abort(403, description=f"this needs the {role.value} role; you are {current_user.role}")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
