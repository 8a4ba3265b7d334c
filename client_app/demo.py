"""Start the client app for the demo client with a demo login (``make demo`` calls this after training)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from b2brec.projects.local import LocalClientProject
from b2brec.settings import Settings
from client_app.config import AppConfig
from client_app.runner import AppProcesses, start

DEMO_EMAIL = "demo@b2brec.local"


@dataclass(frozen=True)
class DemoApp:
    processes: AppProcesses
    url: str
    email: str
    password: str


def ensure_user(config: AppConfig, settings: Settings, email: str, role: str = "admin") -> str:
    """Create (or reset) the demo login with a fresh random password; returns the password."""
    from werkzeug.security import generate_password_hash

    from client_app.app import create_app
    from client_app.auth.services import create_user, find
    from client_app.extensions import db

    password = secrets.token_urlsafe(12)
    app = create_app(config, settings)
    with app.app_context():
        user = find(email)
        if user is None:
            create_user(email, "Demo user", role, password, actor="demo")
        else:
            user.password_hash, user.role, user.active = generate_password_hash(password), role, True
            db.session.commit()
        db.session.remove()
        db.engine.dispose()  # this app only wrote the login; the server process opens its own
    return password


def start_for_demo(project: LocalClientProject, settings: Settings) -> DemoApp:
    """The app on the project's client_app port, with its worker and beat, and a demo admin login."""
    config = AppConfig(client=project.project_id, secure_cookies=False, base_url=project.urls()["client_app"])
    password = ensure_user(config, settings, DEMO_EMAIL)
    env = {
        "B2BREC_APP_CLIENT": project.project_id,
        "B2BREC_APP_SECURE_COOKIES": "0",
        "B2BREC_APP_BASE_URL": config.base_url,
        "B2BREC_HOME": str(settings.home),
    }
    port = project.ports["client_app"]
    processes = start(env, host="127.0.0.1", port=port, logs=project.logs_dir)
    return DemoApp(processes, processes.url, DEMO_EMAIL, password)
