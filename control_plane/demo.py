"""Start the control plane for ``make demo``: the demo client registered, a demo operator with
a fresh password, and the first template version released.

    from control_plane.demo import prepare_demo
    login = prepare_demo(platform_settings)       # idempotent; returns the operator login
    # then: b2brec control-plane serve  (prints the URL)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from b2brec.errors import B2BRecError
from b2brec.projects.local import open_project
from b2brec.settings import Settings
from control_plane.app import create_app
from control_plane.auth.models import Operator
from control_plane.auth.services import create_operator
from control_plane.clients import services as clients
from control_plane.extensions import db
from control_plane.runtime import runtime
from control_plane.settings import ControlPlaneSettings
from provisioning.templates import default_version

DEMO_OPERATOR = "demo-admin@b2brec.local"
DEMO_ENVIRONMENT = "demo-dev"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    client_id: str | None


def prepare_demo(platform: Settings, settings: ControlPlaneSettings | None = None) -> DemoLogin:
    """Register the demo client (if its local project exists), release the first template
    version, and (re)set the demo operator's password. Safe to run again."""
    app = create_app(settings or ControlPlaneSettings(secure_cookies=False), platform, enqueue=lambda name, arg: None)
    password = secrets.token_urlsafe(12)
    client_id: str | None = None
    with app.app_context():
        operator = db.session.scalar(sa.select(Operator).where(Operator.email == DEMO_OPERATOR))
        if operator is None:
            create_operator(DEMO_OPERATOR, password, "admin", actor="demo")
        else:
            operator.set_password(password)
            db.session.commit()
        default_version(runtime().templates)  # publishes and releases the baseline 1.0.0 on a fresh platform
        try:
            project = open_project(DEMO_ENVIRONMENT, platform)
        except B2BRecError:
            project = None
        if project is not None:
            clients.register_existing(project.spec, urls=project.urls())
            client_id = project.spec.client_id
        db.engine.dispose()
    return DemoLogin(DEMO_OPERATOR, password, client_id)
