"""``require_role``: viewer < member < admin. A refusal is a 403 naming the role needed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask_login import current_user, login_required

from client_app.errors import AppError

P = ParamSpec("P")
R = TypeVar("R")

NEEDS = {
    "viewer": "read pages",
    "member": "run ETL, train and deploy",
    "admin": "manage users, connections and API keys",
}


def require_role(role: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not current_user.can(role):
                raise AppError(
                    f"your role ({current_user.role}) cannot do this; only {role}s and above may {NEEDS[role]}",
                    code="forbidden",
                    fix="ask an admin of your organisation to change your role",
                )
            return view(*args, **kwargs)

        return login_required(wrapper)  # type: ignore[no-any-return]

    return decorate
