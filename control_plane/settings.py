"""Settings of the control plane app (``B2BREC_CP_*`` variables), validated at start-up.

Tests build a ``ControlPlaneSettings`` explicitly and hand it to ``create_app``; nothing here
reads ``os.environ`` outside the settings object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from b2brec.billing_export import check_export_table
from b2brec.broker import celery_broker
from b2brec.settings import Settings

PLACEHOLDER_KEYS = frozenset({"", "dev", "change-me", "changeme", "secret", "local-dev-only"})
MISSING_KEY = (
    "B2BREC_CP_SECRET_KEY is unset or a placeholder; set a long random value "
    "(python -c 'import secrets; print(secrets.token_hex(32))')"
)


class ControlPlaneSettings(BaseSettings):
    """Every supported ``B2BREC_CP_<FIELD>`` variable, with its default and what it does."""

    model_config = SettingsConfigDict(env_prefix="B2BREC_CP_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the app database; unset = SQLite under B2BREC_HOME/control_plane/."
    )
    secret_key: str = Field(
        "",
        description="Flask session signing key. Unset outside local development: on GCP the secret "
        "`control-plane-secret-key` (a random key is stored there on first start); elsewhere required.",
    )
    local_dev: bool = Field(
        True, description="Local development: a per-home random key is generated when SECRET_KEY is unset."
    )
    secure_cookies: bool = Field(True, description="Session cookie Secure flag (HTTPS only); tests over http unset it.")
    broker_url: str | None = Field(
        None,
        description="Celery broker URL; unset = Memorystore Redis from B2BREC_BROKER_* (GCP: b2brec.broker), "
        "else kombu's SQLite broker under B2BREC_HOME.",
    )
    celery_eager: bool = Field(False, description="Run Celery tasks in-process (tests and the demo without a worker).")
    iap_audience: str | None = Field(
        None, description="IAP JWT audience (/projects/NUMBER/global/backendServices/ID); set = IAP required."
    )
    iap_jwks_url: str = Field("https://www.gstatic.com/iap/verify/public_key-jwk", description="IAP public keys.")
    soak_seconds: float = Field(60.0, ge=0, description="Health-gate soak after a rollout wave (minutes in prod).")
    canary_fraction: float = Field(0.1, gt=0, le=1, description="Share of eligible clients in the canary wave.")
    wave_size: int = Field(25, ge=1, description="Clients per wave after the canary.")
    kept_versions: int = Field(3, ge=1, le=10, description="Released template versions kept deployable.")
    health_timeout: float = Field(2.0, gt=0, description="Seconds per health probe request.")
    stale_etl_hours: float = Field(48.0, gt=0, description="ETL older than this marks a client unhealthy.")
    smtp_host: str | None = Field(None, description="SMTP server for alert emails; unset = write to alerts.log.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    alert_from: str = Field("control-plane@b2brec.local", description="Sender of alert emails.")
    alert_to: str = Field("platform-ops@b2brec.local", description="Where alert emails go.")
    margin: float = Field(0.15, ge=0, le=10, description="Margin added on cost in monthly statements (0.15 = 15%).")
    anomaly_factor: float = Field(3.0, gt=1, description="A day above factor x trailing 14-day mean is an anomaly.")

    # --- Google Cloud (B2BREC_BACKEND=gcp): Terraform provisioning and the real billing export -------
    terraform: str | None = Field(
        None, description="The terraform executable the provisioner runs (backend gcp); unset = `terraform` on PATH."
    )
    stacks_dir: Path | None = Field(
        None,
        description="Where client stacks are synthesized and terraform runs, one folder per client (state lives "
        "in the platform's GCS state bucket); unset = B2BREC_HOME/control_plane/stacks.",
    )
    platform_file: Path | None = Field(
        None, description="The platform settings file of the client stacks (unset = stacks/platform.yaml)."
    )
    terraform_impersonate: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$",
        description="The deployer service account terraform impersonates (the stack sets the platform's "
        "terraform@…; the app's own account may only impersonate it); unset = the ambient credentials.",
    )
    billing_export_table: str | None = Field(
        None,
        description="The Cloud Billing export table the billing pages read on GCP, "
        "PROJECT.DATASET.gcp_billing_export_v1_XXXXXX_XXXXXX_XXXXXX (validated strictly: it is put into SQL).",
    )
    billing_export_location: str = Field(
        "EU", pattern=r"^[A-Za-z0-9-]{2,32}$", description="BigQuery location of the billing export's dataset."
    )

    @field_validator("billing_export_table")
    @classmethod
    def _export_table(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else check_export_table(value.strip())

    @model_validator(mode="after")
    def _fail_closed(self) -> ControlPlaneSettings:
        # unset is allowed here: on GCP the app reads (or creates) its key in Secret Manager at start
        if self.secret_key and self.secret_key.strip().lower() in PLACEHOLDER_KEYS:
            raise ValueError(MISSING_KEY)
        return self

    def state_dir(self, platform: Settings) -> Path:
        """Folder of the control plane's local state (database, billing export, logs)."""
        return platform.home / "control_plane"

    def resolved_stacks_dir(self, platform: Settings) -> Path:
        return self.stacks_dir or self.state_dir(platform) / "stacks"

    def resolved_database_url(self, platform: Settings) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir(platform) / 'control_plane.sqlite'}"

    def resolved_broker(self, platform: Settings) -> dict[str, Any]:
        """Celery's ``broker_url`` and ``broker_use_ssl``: this URL, else Redis (TLS + AUTH) from
        ``B2BREC_BROKER_*`` (what the stack sets on GCP), else the local SQLite broker."""
        return celery_broker(self.broker_url, lambda: self.local_broker_url(platform))

    def local_broker_url(self, platform: Settings) -> str:
        return f"sqla+sqlite:///{self.state_dir(platform) / 'celery-broker.sqlite'}"
