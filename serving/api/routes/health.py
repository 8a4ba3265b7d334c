"""Liveness (the process answers) and readiness (a model is loaded and answers a probe query)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.api.responses import ok
from serving.deps import RegistryDep
from serving.errors import error
from serving.model.registry import probe
from serving.schemas import Envelope, ErrorEnvelope, HealthData

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=Envelope[HealthData])
async def live() -> object:
    return ok("alive", {"ready": False, "model_version": None})


@router.get("", response_model=Envelope[HealthData], responses={503: {"model": ErrorEnvelope}})
def ready(registry: RegistryDep) -> object:
    if not registry.loaded:
        return error(503, "not ready: no model loaded", {"ready": False, "model_version": None})
    state = registry.current
    try:
        probe(state)
    except Exception as exc:  # any failure of the probe means not ready
        return error(503, f"not ready: probe query failed ({exc})", {"ready": False, "model_version": state.version})
    return ok("ready", {"ready": True, "model_version": state.version})
