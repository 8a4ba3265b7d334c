"""Annotated dependencies: routes reach the model, settings and loggers only through these, so
tests build the app with a tiny bundle and real parts instead of patching globals."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader

from b2brec.settings import Backend, Settings
from serving.config import ServingSettings
from serving.errors import AdminDisabled, ApiDisabled, Unauthorized
from serving.metrics import ServingMetrics
from serving.model.registry import ModelRegistry
from serving.model.state import ModelState
from serving.predictions import PredictionLogger


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


async def get_model(request: Request) -> ModelState:
    """The live version, read once: the request keeps it even if a deploy swaps it meanwhile."""
    return request.app.state.registry.current


async def get_metrics(request: Request) -> ServingMetrics:
    return request.app.state.metrics


async def get_predictions(request: Request) -> PredictionLogger | None:
    return request.app.state.predictions


async def get_serving_settings(request: Request) -> ServingSettings:
    return request.app.state.serving_settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
ModelDep = Annotated[ModelState, Depends(get_model)]
MetricsDep = Annotated[ServingMetrics, Depends(get_metrics)]
PredictionsDep = Annotated[PredictionLogger | None, Depends(get_predictions)]
ServingSettingsDep = Annotated[ServingSettings, Depends(get_serving_settings)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def require_admin(
    settings: SettingsDep,
    serving: ServingSettingsDep,
    authorization: Annotated[str | None, Header(max_length=1000)] = None,
) -> None:
    """Admin calls need ``Authorization: Bearer <B2BREC_SERVING_ADMIN_TOKEN>`` when a token is set;
    on GCP a token is mandatory (fail closed)."""
    token = serving.admin_token
    if token is None:
        if settings.backend is Backend.GCP:
            raise AdminDisabled("admin API disabled: set B2BREC_SERVING_ADMIN_TOKEN to enable deploys")
        return
    supplied = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(supplied.encode(), token.encode()):
        raise Unauthorized("admin call needs header 'Authorization: Bearer <admin token>'")


AdminDep = Depends(require_admin)


API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="One of the keys in B2BREC_SERVING_API_KEYS (managed in the client app).",
)


async def require_api_key(
    settings: SettingsDep,
    serving: ServingSettingsDep,
    supplied: Annotated[str | None, Security(API_KEY_HEADER)] = None,
) -> None:
    """Recommendation calls need ``X-API-Key`` when keys are configured; on GCP keys are mandatory
    (the service is public, so it fails closed)."""
    keys = serving.accepted_api_keys()
    if not keys:
        if settings.backend is Backend.GCP:
            raise ApiDisabled("recommendations are disabled: no API keys are configured (B2BREC_SERVING_API_KEYS)")
        return
    candidate = (supplied or "").strip().encode()
    # Compare with every key (no early exit), so the time taken does not tell which key nearly matched.
    matches = [hmac.compare_digest(candidate, key) for key in keys]
    if not candidate or not any(matches):
        raise Unauthorized(
            "missing or unknown API key: send header 'X-API-Key: <key>' (keys are managed in the client app)"
        )


ApiKeyDep = Depends(require_api_key)
