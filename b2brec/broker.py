"""The Celery broker of both apps: an explicit URL, Memorystore Redis assembled from its parts, or
the app's local default (kombu's SQLite transport).

On GCP the stacks give each app's web service and worker the instance's address and server CA as
plain variables and its AUTH string from Secret Manager (a secret env var)::

    B2BREC_BROKER_HOST   private IP of the instance        B2BREC_BROKER_PORT  6378 (the TLS port)
    B2BREC_BROKER_CA     PEM of the instance's server CAs  B2BREC_BROKER_AUTH  AUTH string (secret)

:func:`celery_broker` turns them into ``rediss://:AUTH@HOST:PORT/DB`` with ``broker_use_ssl`` that
verifies the server's chain against the instance's own CA. The host name is not checked: Memorystore's
server certificate names its IP in the subject only (Python checks IP SANs), and the CA is unique to
the instance, so a certificate it signed can only come from that instance. Without these variables
nothing changes (the app's SQLite broker locally).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from b2brec.errors import B2BRecError

ENV_PREFIX = "B2BREC_BROKER_"
HOST_ENV, PORT_ENV, CA_ENV, AUTH_ENV = (f"{ENV_PREFIX}{name}" for name in ("HOST", "PORT", "CA", "AUTH"))
TLS_PORT = 6378
"""Memorystore for Redis listens here when in-transit encryption is on (6379 otherwise)."""


class BrokerSettings(BaseSettings):
    """Every ``B2BREC_BROKER_<FIELD>`` variable: the parts of a Redis broker behind TLS and AUTH."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    host: str | None = Field(None, description="Redis host (Memorystore's private IP); unset = no Redis broker.")
    port: int = Field(TLS_PORT, ge=1, le=65535, description="Redis port; Memorystore's TLS port is 6378.")
    auth: SecretStr | None = Field(None, description="AUTH string (on GCP a secret env var from Secret Manager).")
    ca: str | None = Field(None, description="PEM of the server's CA certificates (the instance's server_ca_certs).")
    db: int = Field(0, ge=0, le=15, description="Redis database number of the broker's queues.")

    @field_validator("ca")
    @classmethod
    def _ca(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            ssl.create_default_context(cadata=value)
        except (ssl.SSLError, ValueError):
            raise ValueError("is not a PEM certificate; pass the instance's server_ca_certs[*].cert") from None
        return value

    @model_validator(mode="after")
    def _complete(self) -> BrokerSettings:
        if self.host and (self.auth is None or not self.auth.get_secret_value()):
            raise ValueError(f"{HOST_ENV} is set but {AUTH_ENV} is not; give the instance's AUTH string")
        if self.host and self.ca is None:
            raise ValueError(f"{HOST_ENV} is set but {CA_ENV} is not; give the instance's server CA (PEM)")
        return self


def load_settings() -> BrokerSettings:
    """The broker settings from the environment; a bad value names the variable and the fix."""
    try:
        return BrokerSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg'].removeprefix('Value error, ')}"
            if e["loc"]
            else e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise B2BRecError(
            f"invalid broker settings: {problems}",
            code="invalid_settings",
            fix="set B2BREC_BROKER_HOST, _PORT, _AUTH and _CA together (the stack does), or none of them",
        ) from None


def redis_url(settings: BrokerSettings) -> str:
    """``rediss://:AUTH@HOST:PORT/DB`` (the AUTH string URL-quoted)."""
    if not settings.host or settings.auth is None:
        raise ValueError("no Redis host and AUTH string in these settings")
    password = quote(settings.auth.get_secret_value(), safe="")
    return f"rediss://:{password}@{settings.host}:{settings.port}/{settings.db}"


def ssl_options(settings: BrokerSettings) -> dict[str, Any]:
    """What kombu passes to redis-py's ``SSLConnection``: the chain is verified against the CA given."""
    return {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_data": settings.ca, "ssl_check_hostname": False}


def celery_broker(
    url: str | None, default: Callable[[], str], settings: BrokerSettings | None = None
) -> dict[str, Any]:
    """Celery's ``broker_url`` and ``broker_use_ssl``: ``url`` when given (an app's ``*_BROKER_URL``),
    else Redis from ``B2BREC_BROKER_*``, else ``default()`` (the app's local broker)."""
    if url:
        return {"broker_url": url, "broker_use_ssl": False}
    settings = settings if settings is not None else load_settings()
    if settings.host:
        return {"broker_url": redis_url(settings), "broker_use_ssl": ssl_options(settings)}
    return {"broker_url": default(), "broker_use_ssl": False}
