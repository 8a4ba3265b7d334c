"""Keep this instance on the client's live version (``b2brec.live``): read the pointer at start and
every ``live_refresh_s`` seconds, and hot-swap when it moved. Every instance does the same, so all
converge on a deployed (or rolled back) version within one refresh interval.

A version that fails to load (broken bundle, failed probe) is logged and skipped until the pointer
moves again; the instance keeps serving what it has.
"""

from __future__ import annotations

import logging
import threading

from b2brec.backends.storage import ObjectStore
from b2brec.errors import B2BRecError
from b2brec.live import live_version
from serving.model.registry import ModelRegistry

log = logging.getLogger("serving.live")


class LiveFollower:
    def __init__(self, registry: ModelRegistry, store: ObjectStore, refresh_s: float) -> None:
        self.registry = registry
        self.store = store
        self.refresh_s = refresh_s
        self._failed: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> str | None:
        """Deploy the live version if this instance serves another one; returns the live version."""
        try:
            wanted = live_version(self.store)
        except Exception as exc:  # storage unreachable: keep serving, try again next time
            log.warning("could not read the live version", extra={"error": type(exc).__name__})
            return None
        current = self.registry.current.version if self.registry.loaded else None
        if wanted is None or wanted == current or wanted == self._failed:
            return wanted
        try:
            self.registry.deploy(wanted)
            log.info("following the live version", extra={"model_version": wanted, "previous": current})
            self._failed = None
        except Exception as exc:  # a broken bundle raises whatever its reader raises: never kill the loop
            self._failed = wanted
            error = exc.message if isinstance(exc, B2BRecError) else f"{type(exc).__name__}: {str(exc)[:200]}"
            log.error("live version failed to load", extra={"model_version": wanted, "error": error})
        return wanted

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self.check_once()

    def start(self) -> None:
        if self.refresh_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="live-version", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
