"""Annotated dependencies: routes reach the model, settings and loggers only through these, so
tests build the app with a tiny bundle and real parts instead of patching globals."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader

from b2brec.errors import B2BRecError
from b2brec.settings import Settings
from serving.config import MIN_ADMIN_TOKEN_LENGTH, ServingSettings
from serving.credentials import Credentials
from serving.errors import AdminDisabled, ApiDisabled, Unauthorized
from serving.history import CustomerHistory
from serving.metrics import ServingMetrics
from serving.model.registry import ModelRegistry
from serving.model.state import ModelState
from serving.predictions import PredictionLogger


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


async def get_model(request: Request) -> ModelState:
    """The live version, read once: the request keeps it even if a deploy swaps it meanwhile."""
    return request.app.state.registry.current


async def get_history(request: Request) -> CustomerHistory | None:
    """The customers' warehouse history (None when the app runs without a warehouse)."""
    cache = getattr(request.app.state, "history", None)
    return cache.current if cache is not None else None


async def get_metrics(request: Request) -> ServingMetrics:
    return request.app.state.metrics


async def get_predictions(request: Request) -> PredictionLogger | None:
    return request.app.state.predictions


async def get_serving_settings(request: Request) -> ServingSettings:
    return request.app.state.serving_settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
HistoryDep = Annotated[CustomerHistory | None, Depends(get_history)]
ModelDep = Annotated[ModelState, Depends(get_model)]
MetricsDep = Annotated[ServingMetrics, Depends(get_metrics)]
PredictionsDep = Annotated[PredictionLogger | None, Depends(get_predictions)]
ServingSettingsDep = Annotated[ServingSettings, Depends(get_serving_settings)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_credentials(request: Request) -> Credentials:
    return request.app.state.credentials


CredentialsDep = Annotated[Credentials, Depends(get_credentials)]


async def get_fail_closed(request: Request) -> bool:
    """Whether missing credentials disable the API (public deployments) instead of leaving it open."""
    return request.app.state.fail_closed


FailClosedDep = Annotated[bool, Depends(get_fail_closed)]


def admin_refusal(fail_closed: bool, credentials: Credentials, authorization: str | None) -> B2BRecError | None:
    """Why an admin call must be refused, or ``None``. Needs ``Authorization: Bearer <token>`` (the
    scheme is required) when a token is set. A client's service needs a token on every backend, and on
    GCP any service does (fail closed): a missing, blank or short one disables /admin. The token is
    compared in constant time."""
    token = credentials.admin_token()
    if token is None:
        if fail_closed or credentials.admin_required():
            return AdminDisabled(
                "admin API disabled: the serving-admin-token secret is missing, blank or shorter than "
                f"{MIN_ADMIN_TOKEN_LENGTH} characters; store a long random token in it "
                "(or set B2BREC_SERVING_ADMIN_TOKEN)"
            )
        return None
    scheme, _, supplied = (authorization or "").strip().partition(" ")
    matches = hmac.compare_digest(supplied.strip().encode(), token.encode())
    if scheme.lower() != "bearer" or not matches:
        return Unauthorized("admin call needs header 'Authorization: Bearer <admin token>'")
    return None


async def require_admin(
    fail_closed: FailClosedDep,
    credentials: CredentialsDep,
    authorization: Annotated[str | None, Header(max_length=1000)] = None,
) -> None:
    """The same check as :class:`serving.guard.RequestGuard` (which runs first, before the body is
    read); kept as a dependency so the OpenAPI schema documents the header."""
    refusal = admin_refusal(fail_closed, credentials, authorization)
    if refusal is not None:
        raise refusal


AdminDep = Depends(require_admin)


API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="One of the client's API keys (managed in the client app; secret serving-api-keys).",
)


def api_key_refusal(fail_closed: bool, credentials: Credentials, supplied: str | None) -> B2BRecError | None:
    """Why a recommendation call must be refused, or ``None``. ``X-API-Key`` is required when keys
    are configured; on GCP keys are mandatory (the service is public: fail closed), and anywhere, once
    keys were configured, revoking the last one refuses calls rather than opening the API."""
    keys = credentials.api_keys()
    if not keys:
        if fail_closed or credentials.keys_required():
            return ApiDisabled(
                "recommendations are disabled: no API keys are configured (add one in the client app, i.e. the "
                "serving-api-keys secret, or set B2BREC_SERVING_API_KEYS)"
            )
        return None
    candidate = (supplied or "").strip().encode()
    # Compare with every key (no early exit), so the time taken does not tell which key nearly matched.
    matches = [hmac.compare_digest(candidate, key) for key in keys]
    if not candidate or not any(matches):
        return Unauthorized(
            "missing or unknown API key: send header 'X-API-Key: <key>' (keys are managed in the client app)"
        )
    return None


async def require_api_key(
    fail_closed: FailClosedDep,
    credentials: CredentialsDep,
    supplied: Annotated[str | None, Security(API_KEY_HEADER)] = None,
) -> None:
    """The same check as :class:`serving.guard.RequestGuard` (which runs first, before the body is
    read); kept as a dependency so the OpenAPI schema documents the header."""
    refusal = api_key_refusal(fail_closed, credentials, supplied)
    if refusal is not None:
        raise refusal


ApiKeyDep = Depends(require_api_key)
