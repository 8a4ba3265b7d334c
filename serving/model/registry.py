"""The live model: an atomically replaced ModelState, plus the previous one for rollback.

Reading ``registry.current`` is one attribute read, so a request that took a state keeps it
until it finishes, whatever is deployed meanwhile; a state is built fully (index tuned, probe
passed) before it is swapped in. Deploys are serialised by a lock; reads never wait on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from b2brec.errors import B2BRecError
from serving.config import ServingSettings
from serving.model.loader import BundleSource, version_from_registry
from serving.model.state import FilterSpec, ModelState, build_state
from serving.recommend import recommend

log = logging.getLogger("serving.registry")


class ModelNotLoaded(B2BRecError):
    code = "model_not_loaded"


class DeployError(B2BRecError):
    code = "deploy_failed"


def probe(state: ModelState) -> None:
    """One real query through the index (first known customer, else the fallback path)."""
    customer = next(iter(state.customer_rows), "__probe__")
    result = recommend(state, [customer], 5, FilterSpec())[0]
    if state.n_products and len(result.product_rows) == 0 and not result.fallback:
        raise DeployError(f"model {state.version}: probe query returned no products")
    if not np.all(np.isfinite(result.scores)):
        raise DeployError(f"model {state.version}: probe query returned non-finite scores")


class ModelRegistry:
    def __init__(self, source: BundleSource | None, settings: ServingSettings) -> None:
        self.source = source
        self.settings = settings
        self._current: ModelState | None = None
        self._previous: ModelState | None = None
        self._deploy_lock = threading.Lock()
        self.listeners: list[Callable[[ModelState], None]] = []

    @property
    def current(self) -> ModelState:
        state = self._current
        if state is None:
            raise ModelNotLoaded("no model is loaded yet; deploy one with POST /admin/deploy")
        return state

    @property
    def loaded(self) -> bool:
        return self._current is not None

    @property
    def previous_version(self) -> str | None:
        return self._previous.version if self._previous is not None else None

    def build(self, version: str) -> ModelState:
        if self.source is None:
            raise DeployError("this server has no model store to load versions from")
        bundle = self.source.load(version)
        state = build_state(
            bundle,
            approx_threshold=self.settings.approx_threshold,
            batch_approx_threshold=self.settings.batch_approx_threshold,
            target_recall=self.settings.approx_target_recall,
            recall_sample=self.settings.recall_sample,
            threads=self.settings.compute_threads,
        )
        probe(state)
        return state

    def install(self, state: ModelState) -> None:
        """Make ``state`` live (keeping the old one for rollback); used by tests with tiny bundles."""
        with self._deploy_lock:
            self._swap(state)

    def _swap(self, state: ModelState) -> None:
        # The state dropped here is freed by the garbage collector once no request holds it.
        self._previous, self._current = self._current, state
        log.info("model deployed", extra={"model_version": state.version, "previous": self.previous_version})
        for listener in self.listeners:
            listener(state)

    def resolve_registered(self, registered: str) -> str:
        """The bundle version an MLflow registry version number or alias points at."""
        uri = self.settings.mlflow_tracking_uri
        if not uri:
            raise DeployError(
                "this server has no MLflow registry configured; set MLFLOW_TRACKING_URI "
                "(or B2BREC_SERVING_MLFLOW_TRACKING_URI), or deploy a bundle version id"
            )
        return version_from_registry(uri, self.settings.registered_model, registered)

    def deploy(self, version: str | None = None, *, registered: str | None = None) -> ModelState:
        """Load ``version``, or the one registry version/alias ``registered`` points at (newest
        bundle when neither is given), check it, then swap it in."""
        if version is not None and registered is not None:
            raise DeployError("give a bundle version or a registry version/alias, not both")
        with self._deploy_lock:
            if registered is not None:
                version = self.resolve_registered(registered)
            if version is None:
                if self.source is None:
                    raise DeployError("no version given and no model store to find the newest one")
                version = self.source.latest()
            if self._current is not None and self._current.version == version:
                return self._current
            state = self.build(version)
            self._swap(state)
            return state

    def rollback(self) -> ModelState:
        with self._deploy_lock:
            previous = self._previous
            if previous is None:
                raise DeployError("no previous version to roll back to; deploy a version first")
            self._previous, self._current = self._current, previous
            log.info("model rolled back", extra={"model_version": previous.version})
            for listener in self.listeners:
                listener(previous)
            return previous
