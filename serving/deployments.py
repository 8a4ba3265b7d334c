"""Deploy and roll back a client's model: plain service functions for the CLI, the client app and a worker.

A deploy checks the version the way a serving instance would load it (bundle read, index built, one
probe query), then records it as the client's live version through the one deploy path
(``b2brec.live.deploy_live_version``, with this stricter check); every serving instance follows
within its refresh interval. Nothing here needs a running server::

    ctx = client_context("demo-dev", settings)
    deployment = deploy_model(ctx, "20260301-120000-ab12", actor="ana", reason="better recall@100")
    rollback_model(ctx, actor="ana", reason="latency regression")
    model_status(ctx).live

Progress events (b2brec.progress): ``deploy``/``rollback`` start, ``check`` start and done (the probe
passed), then ``deploy``/``rollback`` done (``data``: version, previous) or error (``data``: code, fix).
"""

from __future__ import annotations

from dataclasses import dataclass

from b2brec.backends.storage import ObjectStore
from b2brec.context import ClientContext
from b2brec.errors import B2BRecError
from b2brec.live import Deployment, deploy_live_version, deployment_history, live_version, rollback_live_version
from b2brec.progress import OnEvent, emit
from serving.config import ServingSettings
from serving.model.loader import BundleSource
from serving.model.registry import ModelRegistry


@dataclass(frozen=True)
class ModelStatus:
    """What a client serves, what it could serve, and how it got there."""

    live: str | None
    available: list[str]
    history: list[Deployment]


def _check(source: BundleSource, version: str, serving: ServingSettings, on_event: OnEvent | None) -> None:
    """Load ``version`` as serving would and run its probe query; raises if it cannot serve."""
    emit(on_event, "check", "start", message=f"loading model {version} and running a probe query", version=version)
    ModelRegistry(source, serving).build(version)
    emit(on_event, "check", "done", message=f"model {version} answers", version=version)


def _run(
    stage: str,
    ctx: ClientContext,
    version: str | None,
    *,
    actor: str,
    reason: str,
    serving: ServingSettings | None,
    on_event: OnEvent | None,
) -> Deployment:
    store = ctx.backends.storage("models")
    source = BundleSource(store)
    emit(on_event, stage, "start", message=f"{stage} for {ctx.project_id}")

    def check(_: ObjectStore, target: str) -> None:
        _check(source, target, serving or ServingSettings(), on_event)

    try:
        if stage == "rollback":
            deployment = rollback_live_version(store, actor=actor, reason=reason, check=check)
        else:
            deployment = deploy_live_version(store, version or source.latest(), actor=actor, reason=reason, check=check)
    except B2BRecError as exc:
        emit(on_event, stage, "error", message=exc.message, code=exc.code, fix=exc.fix)
        raise
    emit(
        on_event,
        stage,
        "done",
        message=f"{deployment.version} is live (was {deployment.previous or 'none'})",
        version=deployment.version,
        previous=deployment.previous,
    )
    return deployment


def deploy_model(
    ctx: ClientContext,
    version: str | None = None,
    *,
    actor: str,
    reason: str = "",
    serving: ServingSettings | None = None,
    on_event: OnEvent | None = None,
) -> Deployment:
    """Make ``version`` (default: the newest bundle) the client's live model, once it passed the probe."""
    return _run("deploy", ctx, version, actor=actor, reason=reason, serving=serving, on_event=on_event)


def rollback_model(
    ctx: ClientContext,
    *,
    actor: str,
    reason: str = "",
    serving: ServingSettings | None = None,
    on_event: OnEvent | None = None,
) -> Deployment:
    """Serve again the version the live one replaced (refused if someone deployed meanwhile)."""
    return _run("rollback", ctx, None, actor=actor, reason=reason, serving=serving, on_event=on_event)


def model_status(ctx: ClientContext) -> ModelStatus:
    store = ctx.backends.storage("models")
    return ModelStatus(
        live=live_version(store), available=BundleSource(store).versions(), history=deployment_history(store)
    )
