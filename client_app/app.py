"""The application factory: ``create_app(config, settings)`` binds extensions, blueprints and handlers."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Flask, redirect, url_for
from werkzeug.wrappers import Response

from b2brec.backends.secrets import SecretNotFound
from b2brec.settings import Settings
from client_app.client import ClientRuntime
from client_app.config import AppConfig
from client_app.database import database
from client_app.errors import register_error_handlers
from client_app.extensions import csrf, db, login_manager
from client_app.models import User

SECRET_KEY_NAME = "client-app-secret-key"
DOMAINS = (
    "auth",
    "dashboard",
    "connections",
    "etl",
    "datasets",
    "features",
    "training",
    "experiments",
    "deployments",
    "monitoring",
    "settings",
)


def secret_key(config: AppConfig, client: ClientRuntime) -> str:
    """The configured key, else the client's secret ``client-app-secret-key``: a random key is stored
    there on first start (locally the encrypted store, on GCP Secret Manager, where the stack lets the app
    add a version). Never a built-in fallback."""
    if config.secret_key is not None:
        return config.secret_key.get_secret_value()
    store = client.backends.secrets
    try:
        return store.get(SECRET_KEY_NAME)
    except SecretNotFound:
        key = secrets.token_urlsafe(48)
        store.put(SECRET_KEY_NAME, key)
        return key


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id)) if user_id.isdigit() else None


def register_blueprints(app: Flask) -> None:
    import importlib

    for domain in DOMAINS:
        module = importlib.import_module(f"client_app.{domain}")
        app.register_blueprint(module.bp)

    @app.get("/")
    def root() -> Response:
        return redirect(url_for("dashboard.index"))

    @app.get("/healthz")
    def healthz() -> tuple[dict[str, str], int]:
        """Liveness for Cloud Run (the stack probes this path); no database call."""
        return {"status": "ok"}, 200


NAV: tuple[tuple[str, str, str], ...] = (
    ("dashboard.index", "Dashboard", "viewer"),
    ("connections.index", "Connections", "viewer"),
    ("etl.index", "ETL", "viewer"),
    ("datasets.index", "Datasets", "viewer"),
    ("features.index", "Features", "viewer"),
    ("training.index", "Training", "viewer"),
    ("experiments.index", "Experiments", "viewer"),
    ("deployments.index", "Deployments", "viewer"),
    ("monitoring.index", "Monitoring", "viewer"),
    ("settings.index", "Settings", "viewer"),
    ("auth.users", "Users", "admin"),
)


def register_template_helpers(app: Flask, client: ClientRuntime) -> None:
    from flask_login import current_user

    @app.context_processor
    def helpers() -> dict[str, object]:
        def nav_items() -> list[tuple[str, str]]:
            return [(e, label) for e, label, role in NAV if current_user.is_authenticated and current_user.can(role)]

        def template_notice() -> str | None:
            from client_app.settings.services import notice

            return notice() if current_user.is_authenticated else None

        return {"client_name": lambda: client.name, "nav_items": nav_items, "template_notice": template_notice}


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        )
        return response


def create_app(config: AppConfig | None = None, settings: Settings | None = None, *, migrate: bool = True) -> Flask:
    config = config or AppConfig()  # type: ignore[call-arg]
    settings = settings or Settings()
    client = ClientRuntime(config, settings)
    url, engine_options = database(config, client)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(config, client),
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options,
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=config.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=50 * 1024 * 1024,
        B2BREC_APP=config,
    )
    app.extensions["b2brec_client"] = client
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_security_headers(app)
    register_template_helpers(app, client)
    from client_app.worker import configure

    configure(config, settings)
    if migrate:
        from client_app.migrations import upgrade
        from client_app.settings.services import first_seen

        with app.app_context():
            upgrade(db.engine)
            first_seen()
    return app
