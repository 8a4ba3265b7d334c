"""The template version the client runs, and whether users have been told about a new one."""

from __future__ import annotations

from client_app import activity
from client_app.client import current_client
from client_app.extensions import db
from client_app.models import get_preference, set_preference

SEEN_KEY = "seen_template_version"


def template_version() -> str:
    return current_client().base_spec.template_version


def notice() -> str | None:
    """A message while the running template version differs from the one users acknowledged."""
    version = template_version()
    seen = get_preference(SEEN_KEY)
    if seen is None or seen == version:
        return None
    return f"The platform was updated from template {seen} to {version}: see Settings for the changes."


def acknowledge(actor: str) -> None:
    set_preference(SEEN_KEY, template_version())
    activity.record("template.acknowledge", template_version(), actor=actor)
    db.session.commit()


def first_seen() -> None:
    """Record the version on first start, so only later changes raise the notice."""
    if get_preference(SEEN_KEY) is None:
        set_preference(SEEN_KEY, template_version())
        db.session.commit()
