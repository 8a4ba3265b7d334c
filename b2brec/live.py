"""Which model version a client serves: one pointer in the client's models bucket (``live.json``),
written by compare-and-swap, with the history of every deployment (who, when, from, to, why).

Deploy and rollback go through ``deploy_live_version`` / ``rollback_live_version``: the version
must load (``b2brec.bundle.check_bundle``, or a stricter check the caller passes: serving's deploy
service also builds the index and runs a probe query) before the pointer moves. The client app's
deployment manager, its scheduled retraining, serving's deploy service and the CLI all take that
path. ``set_live_version`` only records a version its caller has just loaded (a serving instance that
swapped it in). Every serving instance reads the pointer at start and every few seconds and
hot-swaps to it, so N instances converge on the same version. The pointer and its history are one
object, so they can never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from b2brec.backends.storage import ObjectStore
from b2brec.backends.versioned import VersionConflict, Versioned, versioned
from b2brec.bundle import check_bundle, check_version, list_versions
from b2brec.errors import B2BRecError

LIVE_KEY = "live.json"
_RETRIES = 20
_ACTIONS = ("deploy", "rollback")
_UNSET = object()

BundleCheck = Callable[[ObjectStore, str], object]
"""Raises (a ``B2BRecError``) when a version cannot be served; called with the models store and the version."""


class LiveVersionError(B2BRecError):
    code = "live_version_error"


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """One change of the live version."""

    version: str
    previous: str | None
    actor: str
    reason: str
    at: str
    action: str = "deploy"


def _read(store: ObjectStore) -> tuple[dict[str, Any], Versioned | None]:
    found = versioned(store).read(LIVE_KEY)
    if found is None:
        return {"version": None, "history": []}, None
    return json.loads(found.data), found


def live_version(models_store: ObjectStore) -> str | None:
    """The version the client serves, or None when none was ever deployed."""
    return _read(models_store)[0]["version"]


def deployment_history(models_store: ObjectStore) -> list[Deployment]:
    """Every deployment and rollback, oldest first."""
    return [Deployment(**entry) for entry in _read(models_store)[0]["history"]]


def _check_actor(actor: str, reason: str, action: str) -> None:
    if not actor.strip() or len(actor) > 200:
        raise LiveVersionError("say who deploys: actor must be 1-200 characters (a user name or a service)")
    if len(reason) > 2000:
        raise LiveVersionError("the reason is longer than 2000 characters; shorten it")
    if action not in _ACTIONS:
        raise LiveVersionError(f"action {action!r} is not one of {', '.join(_ACTIONS)}")


def set_live_version(
    models_store: ObjectStore,
    version: str,
    *,
    actor: str,
    reason: str = "",
    action: str = "deploy",
    expected: object = _UNSET,
) -> Deployment:
    """Make ``version`` (a bundle in ``models_store``) the live one and record who did it and why.

    ``expected``: only switch if the live version is still this one (None = none yet), e.g. a
    rollback decided on what it saw; raises ``LiveVersionError`` if someone deployed meanwhile.
    Setting the version that is already live records nothing and returns the last deployment."""
    check_version(version)
    _check_actor(actor, reason, action)
    available = list_versions(models_store)
    if version not in available:
        shown = ", ".join(available[-10:]) or "none yet; train a model first"
        raise LiveVersionError(f"model version {version!r} has no serving bundle in {models_store.url()} ({shown})")
    cas = versioned(models_store)
    for _ in range(_RETRIES):
        payload, found = _read(models_store)
        current = payload["version"]
        if expected is not _UNSET and current != expected:
            raise LiveVersionError(
                f"the live version changed to {current!r} meanwhile (expected {expected!r}); reload and decide again"
            )
        if current == version and payload["history"]:
            return Deployment(**payload["history"][-1])
        deployment = Deployment(
            version=version,
            previous=current,
            actor=actor.strip(),
            reason=reason,
            at=datetime.now(UTC).isoformat(),
            action=action,
        )
        payload = {"version": version, "history": [*payload["history"], asdict(deployment)]}
        data = json.dumps(payload, indent=2, sort_keys=True).encode()
        try:
            cas.write(LIVE_KEY, data, if_generation=found.generation if found else None)
        except VersionConflict:
            continue
        return deployment
    raise LiveVersionError("too many concurrent deployments; retry")


def rollback_target(models_store: ObjectStore) -> str:
    """The version a rollback goes back to: the one the current live version replaced."""
    payload, _ = _read(models_store)
    history = [Deployment(**entry) for entry in payload["history"]]
    if not history or history[-1].previous is None:
        raise LiveVersionError("no previous version to roll back to; deploy a version first")
    return history[-1].previous


def deploy_live_version(
    models_store: ObjectStore, version: str, *, actor: str, reason: str = "", check: BundleCheck = check_bundle
) -> Deployment:
    """Make ``version`` the live one once ``check`` says it loads (default: every bundle file read and
    validated); a version that cannot load is refused and the pointer stays where it was."""
    check_version(version)
    _check_actor(actor, reason, "deploy")
    check(models_store, version)
    return set_live_version(models_store, version, actor=actor, reason=reason)


def rollback_live_version(
    models_store: ObjectStore, *, actor: str, reason: str = "", check: BundleCheck = check_bundle
) -> Deployment:
    """Go back to the version the current one replaced, once ``check`` says it still loads (and only if
    nobody deployed meanwhile)."""
    _check_actor(actor, reason, "rollback")
    current = live_version(models_store)
    target = rollback_target(models_store)
    check(models_store, target)
    return set_live_version(models_store, target, actor=actor, reason=reason, action="rollback", expected=current)
