"""Settings of the client app, read from ``B2BREC_APP_*`` environment variables.

Every supported variable is a field below. Build one at start-up (``AppConfig()``) and pass it to
``create_app``; tests construct one explicitly. On GCP the client stack sets ``B2BREC_APP_CLIENT``,
``B2BREC_APP_DATABASE_URL`` (Cloud SQL), the Memorystore broker (``B2BREC_BROKER_*``, read by
``b2brec.broker``) and the secret key (from Secret Manager), so the first apply works without editing anything.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_KEYS = frozenset({"", "change-me", "changeme", "secret", "dev", "test"})


class AppConfig(BaseSettings):
    """Client app settings. Each field maps to ``B2BREC_APP_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix="B2BREC_APP_", extra="ignore", frozen=True, populate_by_name=True)

    client: str | None = Field(
        None,
        validation_alias=AliasChoices("B2BREC_APP_CLIENT", "client"),
        description="Project id, client id or environment name of the client this app serves; unset = the "
        "project id of `client_spec` (on GCP the stack passes the spec).",
    )
    client_spec: str | None = Field(
        None,
        validation_alias=AliasChoices("B2BREC_APP_CLIENT_SPEC", "B2BREC_CLIENT_SPEC"),
        description="The client's ClientSpec as JSON (on GCP the stack passes it, as to the ETL job); unset = "
        "the local client project's spec, or environments/{client}.yaml.",
    )
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("B2BREC_APP_DATABASE_URL", "B2BREC_DATABASE_URL"),
        description="SQLAlchemy URL of the app database (on GCP the stack's B2BREC_DATABASE_URL: Cloud SQL through "
        "the Auth Proxy sidecar, IAM authentication); unset = SQLite in the client project's db/.",
    )
    broker_url: str | None = Field(
        None,
        description="Celery broker URL; unset = Memorystore Redis from B2BREC_BROKER_* (GCP: b2brec.broker), "
        "else SQLite via kombu in the client project's db/.",
    )
    secret_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("B2BREC_APP_SECRET_KEY", "B2BREC_SECRET_KEY"),
        description="Flask secret key (sessions, CSRF, reset tokens). Unset = the client's secret "
        "`client-app-secret-key` (a random key is stored there on first start, locally and in Secret Manager).",
    )
    secure_cookies: bool = Field(True, description="Send session cookies only over HTTPS (off for plain-HTTP local).")
    base_url: str = Field("http://127.0.0.1:5000", description="Public URL of the app, used in emails.")
    smtp_host: str | None = Field(None, description="SMTP server for password-reset and run emails; unset = no mail.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    mail_from: str = Field("b2brec@localhost", description="Sender address of the app's emails.")
    serving_url: str | None = Field(None, description="Serving API URL; unset = the client project's serving port.")
    mlflow_url: str | None = Field(None, description="MLflow URL; unset = the client project's MLflow port.")
    scheduler_invoker: str | None = Field(
        None,
        description="Service account whose OIDC token may call the retraining check (the stack's scheduler account "
        "on GCP); unset = the check answers 404 (locally beat runs it).",
    )
    scheduler_audience: str | None = Field(None, description="The audience that token must carry (set by the stack).")
    oidc_certs_url: str = Field(
        "https://www.googleapis.com/oauth2/v1/certs", description="Google's ID-token signing certificates."
    )
    stall_after_s: float = Field(
        30.0, gt=0, description="A running run whose worker has not reported for this long is shown as stalled."
    )
    poll_ms: int = Field(1000, ge=200, le=60_000, description="How often live pages poll for progress.")
    timezone: str = Field("UTC", description="Time zone for showing schedules and times (IANA name).")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"B2BREC_APP_TIMEZONE={value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _client(self) -> AppConfig:
        if not self.client and not self.client_spec:
            raise ValueError("name the client: set B2BREC_APP_CLIENT (e.g. demo-dev) or B2BREC_CLIENT_SPEC")
        return self

    @model_validator(mode="after")
    def _key(self) -> AppConfig:
        if self.secret_key is not None and self.secret_key.get_secret_value().strip().lower() in PLACEHOLDER_KEYS:
            raise ValueError("B2BREC_APP_SECRET_KEY is a placeholder; use a long random value (or leave it unset)")
        return self
