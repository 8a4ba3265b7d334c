"""Application factory of the serving API.

``create_app`` wires the parts it is handed (model source, prediction sink, settings); nothing
happens at import time. The model is loaded in ``lifespan`` and reached through ``deps.py``,
so tests hand in a store with a tiny bundle. ``app_for_client`` wires a client's real backends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import faiss
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from threadpoolctl import threadpool_limits

from b2brec.backends.factory import fails_closed
from b2brec.context import ClientContext
from b2brec.errors import B2BRecError
from b2brec.live import live_version, set_live_version
from b2brec.settings import Settings
from serving.api.main import api_router
from serving.config import ServingSettings
from serving.credentials import Credentials
from serving.errors import register_error_handlers
from serving.guard import RequestGuard
from serving.history import HistoryCache, load_history
from serving.live import LiveFollower
from serving.metrics import ServingMetrics
from serving.model.loader import BundleSource
from serving.model.registry import ModelRegistry
from serving.predictions import PredictionLogger, PredictionSink

log = logging.getLogger("serving")


class MetricsMiddleware:
    """Latency histogram and request counter by route template and outcome (pure ASGI: cheap)."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            outcome = "success" if status < 400 else "client_error" if status < 500 else "server_error"
            elapsed = time.perf_counter() - started
            self.metrics.latency.labels(endpoint).observe(elapsed)
            self.metrics.requests.labels(endpoint, outcome).inc()
            if status >= 500 or log.isEnabledFor(logging.DEBUG):
                log.log(
                    logging.WARNING if status >= 500 else logging.DEBUG,
                    "request",
                    extra={"endpoint": endpoint, "status": status, "latency_ms": round(elapsed * 1000, 3)},
                )


def create_app(
    settings: Settings | None = None,
    serving: ServingSettings | None = None,
    *,
    source: BundleSource | None = None,
    prediction_sink: PredictionSink | None = None,
    registry: ModelRegistry | None = None,
    credentials: Credentials | None = None,
    fail_closed: bool | None = None,
    history: HistoryCache | None = None,
) -> FastAPI:
    """``fail_closed``: refuse calls while no API keys / admin token are configured (default: on GCP)."""
    settings = settings or Settings()
    serving = serving or ServingSettings()
    credentials = credentials or Credentials.from_settings(serving)
    registry = registry or ModelRegistry(source, serving)
    metrics = ServingMetrics()
    registry.listeners.append(metrics.model_changed)
    if history is not None:
        registry.listeners.append(history.model_changed)
    follower = LiveFollower(registry, source.store, serving.live_refresh_s) if source is not None else None
    predictions = None
    if prediction_sink is not None and serving.prediction_log:
        predictions = PredictionLogger(
            prediction_sink,
            flush_interval_s=serving.flush_interval_s,
            flush_rows=serving.flush_rows,
            max_pending_rows=serving.max_pending_rows,
            on_written=metrics.predictions_written.inc,
            on_dropped=metrics.predictions_dropped.inc,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One BLAS thread per computation; batches run ``compute_threads`` chunks side by side,
        # and single requests run side by side on the threadpool, so BLAS threads would only
        # oversubscribe the cores.
        limits = threadpool_limits(limits=1, user_api="blas")
        faiss.omp_set_num_threads(serving.compute_threads)
        if registry.loaded:
            metrics.model_changed(registry.current)
            if history is not None:
                history.model_changed(registry.current)
        elif source is not None:
            _load_at_start(registry, source, serving)
        if follower is not None:
            follower.start()
        if predictions is not None:
            predictions.start()
        if history is not None:
            history.start()
        try:
            yield
        finally:
            if history is not None:
                history.stop()
            if follower is not None:
                follower.stop()
            if predictions is not None:
                predictions.close()
            limits.restore_original_limits()

    app = FastAPI(
        title="b2brec serving API",
        version="1.0",
        description="Product recommendations from the client's trained two-tower model.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.fail_closed = fails_closed(settings) if fail_closed is None else fail_closed
    app.state.serving_settings = serving
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.predictions = predictions
    app.state.credentials = credentials
    app.state.history = history
    app.state.live_store = source.store if source is not None else None
    register_error_handlers(app)
    app.include_router(api_router)
    app.add_middleware(RequestGuard, max_body_bytes=serving.max_body_bytes)  # before any body is read
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts refused requests too
    return app


def client_registry_uri(ctx: ClientContext, serving: ServingSettings) -> str | None:
    """The MLflow registry of *this* client: the client's own MLflow server (locally its project's
    port), whatever a process-wide ``MLFLOW_TRACKING_URI`` says (it may name another client's).
    Where the client's MLflow is not known (GCP without B2BREC_MLFLOW_URI), the serving setting."""
    try:
        return ctx.mlflow_uri
    except B2BRecError:
        return serving.mlflow_tracking_uri


def _load_at_start(registry: ModelRegistry, source: BundleSource, serving: ServingSettings) -> None:
    """The client's live version if one was deployed; else the configured (or newest) version,
    which then becomes the live one, so the next instance starts on the same."""
    try:
        live = live_version(source.store)
        if live is not None:
            registry.deploy(live)
            return
        state = registry.deploy(serving.version, registered=serving.registered)
        try:
            set_live_version(
                source.store, state.version, actor="serving-startup", reason="first version served", expected=None
            )
        except B2BRecError as exc:  # another instance recorded one first: follow it on the next refresh
            log.warning("live version not recorded", extra={"error": exc.message})
    except Exception as exc:  # stay up (live, not ready) so an operator can deploy another version
        error = exc.message if isinstance(exc, B2BRecError) else f"{type(exc).__name__}: {str(exc)[:200]}"
        log.error("no model loaded at start-up", extra={"error": error})


def app_for_client(ctx: ClientContext, serving: ServingSettings) -> FastAPI:
    """The app of one client: models from its ``models`` bucket, predictions to its warehouse,
    registry versions from its own MLflow."""
    backends = ctx.backends
    serving = serving.model_copy(update={"mlflow_tracking_uri": client_registry_uri(ctx, serving)})
    sink = backends.warehouse.prediction_sink() if serving.prediction_log else None
    transactions = ctx.spec.mapping.get("transactions")
    rules = transactions.rules if transactions is not None else None
    warehouse = backends.warehouse
    history = HistoryCache(lambda until: load_history(warehouse, rules, until), serving.history_refresh_s)
    return create_app(
        ctx.settings,
        serving,
        source=BundleSource(backends.storage("models")),
        prediction_sink=sink,
        credentials=Credentials.from_settings(serving, backends.secrets),
        fail_closed=backends.fail_closed,
        history=history,
    )
