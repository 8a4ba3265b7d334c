"""Application factory: ``create_app(settings)`` binds the extensions, blueprints, error
handlers and the runtime (provisioner, probe, alert sink, task queue). Nothing happens at import."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable
from typing import Any

from flask import Flask

from b2brec.backends.client_admin import ClientAdmin
from b2brec.backends.factory import client_admin as admin_for
from b2brec.backends.factory import platform_secret_store
from b2brec.backends.secrets import SecretNotFound, SecretStore
from b2brec.settings import Settings
from b2brec.spec import ClientSpec
from control_plane.alerts.sink import AlertSink, FileSink, SmtpSink
from control_plane.auth.iap import IapVerifier, JwksLoader, fetch_jwks
from control_plane.billing.source import BillingSource, billing_source
from control_plane.extensions import csrf, db, login_manager
from control_plane.health.probe import HealthProbe, HttpHealthProbe
from control_plane.runtime import EXTENSION_KEY, Runtime, control_plane_secrets
from control_plane.settings import MISSING_KEY, ControlPlaneSettings
from provisioning.base import Provisioner
from provisioning.factory import provisioner_for
from provisioning.templates import TemplateRegistry, registry_for

SECRET_KEY_NAME = "control-plane-secret-key"
BLUEPRINTS = ("auth", "clients", "onboarding", "billing", "health", "templates", "rollouts", "audit", "alerts")


def _secret_key(settings: ControlPlaneSettings, platform: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    if not settings.local_dev:
        store = platform_secret_store(platform)
        if store is None:
            raise ValueError(MISSING_KEY)
        return _stored_secret_key(store)
    # local development only (settings refuse an empty key otherwise): one random key per home
    path = settings.state_dir(platform) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pysecrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _stored_secret_key(store: SecretStore) -> str:
    """The key in the platform's Secret Manager; a random one is stored on first start (the stack lets
    the app add a version), so the first apply never waits on a secret with no version."""
    try:
        return store.get(SECRET_KEY_NAME)
    except SecretNotFound:
        key = pysecrets.token_hex(32)
        store.put(SECRET_KEY_NAME, key)
        return key


def create_app(
    settings: ControlPlaneSettings | None = None,
    platform: Settings | None = None,
    *,
    provisioner: Provisioner | None = None,
    billing: BillingSource | None = None,
    templates: TemplateRegistry | None = None,
    probe: HealthProbe | None = None,
    alert_sink: AlertSink | None = None,
    jwks_loader: JwksLoader = fetch_jwks,
    enqueue: Callable[[str, Any], None] | None = None,
    client_admin: Callable[[ClientSpec], ClientAdmin] | None = None,
) -> Flask:
    settings = settings or ControlPlaneSettings()
    platform = platform or Settings()
    app = Flask(__name__, template_folder="jinja", static_folder="static")
    state = settings.state_dir(platform)
    state.mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=_secret_key(settings, platform),
        SQLALCHEMY_DATABASE_URI=settings.resolved_database_url(platform),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=1 * 1024 * 1024,
    )
    register_extensions(app)
    registry = templates or registry_for(platform)
    sink = alert_sink or (
        SmtpSink(settings.smtp_host, settings.smtp_port, settings.alert_from, settings.alert_to)
        if settings.smtp_host
        else FileSink(state / "alerts.mbox", settings.alert_from, settings.alert_to)
    )
    rt = Runtime(
        settings=settings,
        platform=platform,
        provisioner=provisioner
        or provisioner_for(
            platform,
            registry=registry,
            stacks_dir=settings.resolved_stacks_dir(platform),
            terraform=settings.terraform,
            platform_file=settings.platform_file,
            impersonate=settings.terraform_impersonate,
        ),
        billing=billing or billing_source(settings, platform),
        templates=registry,
        secrets=control_plane_secrets(settings, platform),
        probe=probe
        or HttpHealthProbe(platform, timeout=settings.health_timeout, stale_etl_hours=settings.stale_etl_hours),
        alerts=sink,
        enqueue=enqueue or (lambda name, arg: None),
        client_admin=client_admin
        or (lambda spec: admin_for(spec, platform, impersonate=settings.terraform_impersonate)),
    )
    app.extensions[EXTENSION_KEY] = rt
    if settings.iap_audience:
        app.extensions["iap_verifier"] = IapVerifier(settings.iap_audience, settings.iap_jwks_url, jwks_loader)
    if enqueue is None:
        from control_plane.worker import celery_enqueue, init_celery

        init_celery(app)
        rt.enqueue = celery_enqueue(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_security_headers(app)
    from control_plane.migrations import upgrade

    upgrade(app.config["SQLALCHEMY_DATABASE_URI"])  # Alembic, never create_all: one schema history
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)


def register_blueprints(app: Flask) -> None:
    import importlib

    from control_plane.auth.routes import verify_iap

    for name in BLUEPRINTS:
        module = importlib.import_module(f"control_plane.{name}.routes")
        app.register_blueprint(module.bp)
        api = importlib.util.find_spec(f"control_plane.{name}.api")
        if api is not None:
            app.register_blueprint(importlib.import_module(f"control_plane.{name}.api").bp)
    app.before_request(verify_iap)


def register_error_handlers(app: Flask) -> None:
    from control_plane.errors import register_error_handlers as register

    register(app)


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
        )
        return response
