"""Deploy, roll back and list model versions; create and revoke API keys.

API keys: the serving API reads the accepted keys from the ``serving-api-keys`` secret (one per line)
and re-reads it every minute. The app writes the key there and keeps only a prefix and a SHA-256 here,
so a key is shown once, at creation, and never again.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from b2brec.backends.secrets import SecretNotFound
from b2brec.backends.storage import ObjectStore
from b2brec.bundle import check_version, list_versions
from b2brec.errors import B2BRecError
from b2brec.live import Deployment as LiveDeployment
from b2brec.live import deploy_live_version, deployment_history, live_version, rollback_live_version
from b2brec.security.api_keys import split_keys
from client_app import activity, validation
from client_app.client import current_client
from client_app.deployments import serving
from client_app.errors import AppError
from client_app.extensions import db
from client_app.models import ApiKey, utcnow

KEYS_SECRET = "serving-api-keys"


def _models() -> ObjectStore:
    return current_client().storage("models")


def versions() -> list[str]:
    return list(list_versions(_models()))


def serving_state() -> dict[str, Any]:
    """What the serving API says it serves right now (it follows the live pointer within seconds)."""
    try:
        return serving.admin("GET", "versions")
    except AppError as exc:
        return {"error": exc.message, "fix": exc.fix}


def history() -> list[LiveDeployment]:
    """Every deployment and rollback (who, when, from, to, why), newest first."""
    return list(reversed(deployment_history(_models())))


def current_version() -> str | None:
    return live_version(_models())


def deploy(version: str, actor: str, *, reason: str = "deployed from the client app") -> LiveDeployment:
    """Make ``version`` the client's live model once its bundle loads (``b2brec.live.deploy_live_version``:
    every file read and validated, so a corrupt or NaN bundle is refused and nothing changes); every
    serving instance swaps to it within seconds."""
    try:
        check_version(version)
    except B2BRecError:
        raise AppError("that is not a model version id", fix="pick a version from the list") from None
    if version not in versions():
        raise AppError(
            f"model version {version[:64]!r} is not registered", code="not_found", fix="pick one from the list"
        )
    record = deploy_live_version(_models(), version, actor=actor, reason=reason)
    activity.record("model.deploy", version, f"from {record.previous or 'nothing'}", actor=actor)
    db.session.commit()
    return record


def rollback(actor: str) -> LiveDeployment:
    """Serve again the version the live one replaced, once its bundle still loads."""
    record = rollback_live_version(_models(), actor=actor, reason="rolled back from the client app")
    activity.record("model.rollback", record.version, f"from {record.previous}", actor=actor)
    db.session.commit()
    return record


def _stored_keys() -> list[str]:
    try:
        value = current_client().backends.secrets.get(KEYS_SECRET)
    except SecretNotFound:
        return []
    return [k.decode() for k in split_keys(value)]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(name: Any, actor: str) -> tuple[ApiKey, str]:
    label = validation.text(name, "key name", max_len=64)
    key = f"b2b_{secrets.token_urlsafe(32)}"
    current_client().backends.secrets.put(KEYS_SECRET, "\n".join([*_stored_keys(), key]))
    record = ApiKey(name=label, prefix=key[:10], key_hash=_digest(key), created_by=actor)
    db.session.add(record)
    activity.record("api_key.create", label, record.prefix, actor=actor)
    db.session.commit()
    return record, key


def revoke_key(key_id: int, actor: str) -> ApiKey:
    record = db.session.get(ApiKey, key_id)
    if record is None or record.revoked_at is not None:
        raise AppError("no such active key", code="not_found", fix="reload the page")
    kept = [k for k in _stored_keys() if _digest(k) != record.key_hash]
    current_client().backends.secrets.put(KEYS_SECRET, "\n".join(kept))
    record.revoked_at, record.revoked_by = utcnow(), actor
    activity.record("api_key.revoke", record.name, record.prefix, actor=actor)
    db.session.commit()
    return record


def keys() -> list[ApiKey]:
    return list(db.session.scalars(db.select(ApiKey).order_by(ApiKey.created_at.desc())))
