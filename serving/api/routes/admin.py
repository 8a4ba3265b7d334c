"""Deploy and roll back model versions without a restart (the deployment manager calls these).

A deploy loads and probes the version here, then records it as the client's live version
(``b2brec.live``); every other instance follows within its refresh interval. A rollback goes back
to the version the live one replaced, by the same path."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from b2brec.backends.storage import ObjectStore
from b2brec.errors import B2BRecError
from b2brec.live import deployment_history, live_version, rollback_target, set_live_version
from serving.api.responses import ok
from serving.api.routes.model import model_info
from serving.deps import AdminDep, RegistryDep
from serving.model.registry import ModelRegistry
from serving.model.state import ModelState
from serving.schemas import DeployRequest, Envelope, ErrorEnvelope, ModelInfo, RollbackRequest, VersionsData

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorEnvelope} for code in (400, 401, 403, 404, 409, 422)}


def _record(registry: ModelRegistry, store: ObjectStore | None, state: ModelState, was: str | None, **how: Any) -> None:
    """Make ``state`` the client's live version; undo the local swap if that fails."""
    if store is None:
        return
    try:
        set_live_version(store, state.version, **how)
    except B2BRecError:
        if was is not None and was != state.version:
            registry.deploy(was)
        raise


def _deploy(registry: ModelRegistry, store: ObjectStore | None, body: DeployRequest) -> ModelState:
    was = registry.current.version if registry.loaded else None
    state = registry.deploy(body.version, registered=body.registered)
    _record(registry, store, state, was, actor=body.actor, reason=body.reason)
    return state


def _rollback(registry: ModelRegistry, store: ObjectStore | None, body: RollbackRequest) -> ModelState:
    if store is None:
        return registry.rollback()
    current = live_version(store)
    target = rollback_target(store)
    was = registry.current.version if registry.loaded else None
    state = registry.deploy(target)
    _record(registry, store, state, was, actor=body.actor, reason=body.reason, action="rollback", expected=current)
    return state


@router.post("/deploy", response_model=Envelope[ModelInfo], responses=ERRORS)
async def deploy(body: DeployRequest, registry: RegistryDep, request: Request) -> object:
    """Load a version (by bundle id, or by MLflow registry version/alias; newest bundle when both
    are omitted), check it with a probe query, swap it in and record it as the live version (the
    other instances follow). Requests already running finish on the version they started with."""
    store = request.app.state.live_store
    state = await run_in_threadpool(partial(_deploy, registry, store, body))
    return ok(f"serving model {state.version}", model_info(state, registry.previous_version))


@router.post("/rollback", response_model=Envelope[ModelInfo], responses=ERRORS)
async def rollback(registry: RegistryDep, request: Request, body: RollbackRequest | None = None) -> object:
    """Serve the version the live one replaced again (recorded as a rollback; the other instances follow)."""
    store = request.app.state.live_store
    state = await run_in_threadpool(partial(_rollback, registry, store, body or RollbackRequest()))
    return ok(f"rolled back to model {state.version}", model_info(state, registry.previous_version))


@router.get("/versions", response_model=Envelope[VersionsData], responses=ERRORS)
def versions(registry: RegistryDep, request: Request) -> object:
    current = registry.current.version if registry.loaded else None
    available = registry.source.versions() if registry.source is not None else []
    store = request.app.state.live_store
    history = [vars(d) for d in deployment_history(store)[-20:]] if store is not None else []
    return ok(
        f"{len(available)} versions available",
        {
            "current": current,
            "previous": registry.previous_version,
            "available": available,
            "live": live_version(store) if store is not None else None,
            "history": history,
        },
    )
