"""What the app's services need besides the database, built once in ``create_app`` and reached
through :func:`runtime` (tests hand in their own provisioner, health probe or key loader)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app

from b2brec.backends.client_admin import ClientAdmin
from b2brec.backends.secrets import LocalSecretStore, SecretStore
from b2brec.settings import Settings
from b2brec.spec import ClientSpec
from control_plane.settings import ControlPlaneSettings
from provisioning.base import Provisioner
from provisioning.templates import TemplateRegistry

if TYPE_CHECKING:
    from control_plane.alerts.sink import AlertSink
    from control_plane.billing.source import BillingSource
    from control_plane.health.probe import HealthProbe

EXTENSION_KEY = "b2brec_control_plane"


@dataclass
class Runtime:
    settings: ControlPlaneSettings
    platform: Settings
    provisioner: Provisioner
    templates: TemplateRegistry
    """The platform's template version registry (the one the provisioner applies from)."""
    secrets: SecretStore
    billing: BillingSource
    """Where the billing export is read: the local DuckDB copy fed by metering, or BigQuery on GCP."""
    probe: HealthProbe
    alerts: AlertSink
    enqueue: Callable[[str, Any], None]
    """Queue a named task with one argument (Celery, or in-process when eager)."""
    client_admin: Callable[[ClientSpec], ClientAdmin]
    """What the create job does inside a client's project: store its source password, run its first
    load (``b2brec.backends.factory.client_admin``; on GCP as the deployer)."""

    @property
    def billing_path(self) -> Any:
        return self.settings.state_dir(self.platform) / "billing.duckdb"


def control_plane_secrets(settings: ControlPlaneSettings, platform: Settings) -> LocalSecretStore:
    """The control plane's own secrets (source passwords during onboarding)."""
    return LocalSecretStore(settings.state_dir(platform) / "secrets.enc", platform.home / "keys" / "control-plane.key")


def runtime() -> Runtime:
    value: Runtime = current_app.extensions[EXTENSION_KEY]
    return value
