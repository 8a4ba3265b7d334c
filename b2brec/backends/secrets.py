"""Secrets boundary: a local encrypted store, or Google Secret Manager.

Only the secrets backend ever sees a secret's value; specs, logs and errors carry
its *name*.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken

from b2brec.errors import B2BRecError

_SECRET_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


class SecretError(B2BRecError):
    code = "secret_error"


class SecretNotFound(SecretError):
    code = "secret_not_found"


def check_secret_name(name: str) -> str:
    if not _SECRET_NAME.match(name):
        raise SecretError(f"secret name {name!r} is invalid; use letters, digits, '_' and '-' (max 255)")
    return name


class SecretStore(Protocol):
    def put(self, name: str, value: str) -> None: ...

    def get(self, name: str) -> str: ...

    def exists(self, name: str) -> bool: ...

    def delete(self, name: str) -> None: ...


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically with owner-only permissions (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class LocalSecretStore:
    """Secrets encrypted with Fernet (AES-128-CBC + HMAC) in one file; the key lives in a
    separate owner-only file, created on first use (never a built-in fallback key)."""

    def __init__(self, path: Path, key_path: Path) -> None:
        self.path = Path(path)
        self.key_path = Path(key_path)

    def _fernet(self) -> Fernet:
        if not self.key_path.exists():
            _write_private(self.key_path, Fernet.generate_key())
        return Fernet(self.key_path.read_bytes().strip())

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            return json.loads(self._fernet().decrypt(self.path.read_bytes()))
        except InvalidToken:
            raise SecretError(
                f"cannot decrypt {self.path}: its key {self.key_path} does not match; restore the key file"
            ) from None

    def _save(self, secrets: dict[str, str]) -> None:
        _write_private(self.path, self._fernet().encrypt(json.dumps(secrets, sort_keys=True).encode()))

    def put(self, name: str, value: str) -> None:
        secrets = self._load()
        secrets[check_secret_name(name)] = value
        self._save(secrets)

    def get(self, name: str) -> str:
        secrets = self._load()
        if name not in secrets:
            raise SecretNotFound(f"secret {name!r} is not set; store it with `b2brec secrets set {name}`")
        return secrets[name]

    def exists(self, name: str) -> bool:
        return name in self._load()

    def delete(self, name: str) -> None:
        secrets = self._load()
        if secrets.pop(name, None) is not None:
            self._save(secrets)

    def names(self) -> list[str]:
        return sorted(self._load())


class SecretManagerStore:
    """Google Secret Manager in the client project. Secrets (containers) are created by
    Terraform; values are added here as new versions."""

    def __init__(self, project: str, *, client: Any = None) -> None:
        self.project = project
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import secretmanager

            self._client = secretmanager.SecretManagerServiceClient()
        return self._client

    def secret_path(self, name: str) -> str:
        return f"projects/{self.project}/secrets/{check_secret_name(name)}"

    def add_version_request(self, name: str, value: str) -> Any:
        from google.cloud import secretmanager

        return secretmanager.AddSecretVersionRequest(
            parent=self.secret_path(name), payload=secretmanager.SecretPayload(data=value.encode("utf-8"))
        )

    def access_request(self, name: str) -> Any:
        from google.cloud import secretmanager

        return secretmanager.AccessSecretVersionRequest(name=f"{self.secret_path(name)}/versions/latest")

    def put(self, name: str, value: str) -> None:
        self.client.add_secret_version(request=self.add_version_request(name, value))

    def get(self, name: str) -> str:
        from google.api_core.exceptions import NotFound

        try:
            response = self.client.access_secret_version(request=self.access_request(name))
        except NotFound:
            raise SecretNotFound(f"secret {name!r} has no version in project {self.project}") from None
        return response.payload.data.decode("utf-8")

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except SecretNotFound:
            return False
        return True

    def delete(self, name: str) -> None:
        from google.cloud import secretmanager

        self.client.delete_secret(request=secretmanager.DeleteSecretRequest(name=self.secret_path(name)))
