"""Deploy and roll back model versions without a restart (the deployment manager calls these)."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from serving.api.responses import ok
from serving.api.routes.model import model_info
from serving.deps import AdminDep, RegistryDep
from serving.schemas import DeployRequest, Envelope, ErrorEnvelope, ModelInfo, VersionsData

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorEnvelope} for code in (400, 401, 403, 404, 409, 422)}


@router.post("/deploy", response_model=Envelope[ModelInfo], responses=ERRORS)
async def deploy(body: DeployRequest, registry: RegistryDep) -> object:
    """Load a version (by bundle id, or by MLflow registry version/alias; newest bundle when both
    are omitted), check it with a probe query, then swap it in. Requests already running finish
    on the version they started with."""
    state = await run_in_threadpool(partial(registry.deploy, body.version, registered=body.registered))
    return ok(f"serving model {state.version}", model_info(state, registry.previous_version))


@router.post("/rollback", response_model=Envelope[ModelInfo], responses=ERRORS)
async def rollback(registry: RegistryDep) -> object:
    """Serve the previous version again (the one rolled back from becomes the previous)."""
    state = registry.rollback()
    return ok(f"rolled back to model {state.version}", model_info(state, registry.previous_version))


@router.get("/versions", response_model=Envelope[VersionsData], responses=ERRORS)
def versions(registry: RegistryDep) -> object:
    current = registry.current.version if registry.loaded else None
    available = registry.source.versions() if registry.source is not None else []
    return ok(
        f"{len(available)} versions available",
        {"current": current, "previous": registry.previous_version, "available": available},
    )
