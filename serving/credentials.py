"""The API keys and the admin token the service accepts, read from the client's secrets backend
and re-read in the background, so a key added or revoked in the client app takes effect within
``refresh_s`` seconds, without a new revision.

Locally the backend is the client project's encrypted store (``b2brec secrets set
serving-api-keys --client C``); on GCP it is Secret Manager (the serving account holds
``secretAccessor`` on both secrets). Nothing is injected into the container's environment, so a
service can start before the secrets have a value: until then the keys are empty (recommendation
calls get 403 on GCP) and the admin API is disabled (on every backend: a local project gets a random
token when it is created).

Values given in ``ServingSettings`` (``B2BREC_SERVING_API_KEYS`` / ``_ADMIN_TOKEN``) take
precedence over the backend, for tests and single-machine setups.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from b2brec.backends.secrets import SecretNotFound, SecretStore
from b2brec.errors import B2BRecError
from serving.config import MIN_ADMIN_TOKEN_LENGTH, ServingSettings, split_keys

log = logging.getLogger("serving.credentials")


class RefreshingSecret:
    """One secret's latest value, cached; a read older than ``refresh_s`` starts one background
    re-read and keeps answering with the value it has (requests never wait on the backend)."""

    def __init__(
        self, store: SecretStore, name: str, refresh_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.name = name
        self.refresh_s = refresh_s
        self.clock = clock
        self._value: str | None = None
        self._read_at = float("-inf")
        self._refreshing = threading.Lock()
        self.reload()

    def reload(self) -> None:
        """Read the secret now. A missing secret means no value; a failing backend keeps the old one."""
        try:
            value: str | None = self.store.get(self.name)
        except SecretNotFound:
            value = None
        except Exception as exc:  # network, permissions: keep serving with what we had
            log.warning("could not re-read secret", extra={"secret": self.name, "error": type(exc).__name__})
            self._read_at = self.clock()
            return
        if value != self._value:
            log.info("secret changed", extra={"secret": self.name, "present": value is not None})
        self._value, self._read_at = value, self.clock()

    def _reload_in_background(self) -> None:
        try:
            self.reload()
        finally:
            self._refreshing.release()

    @property
    def value(self) -> str | None:
        if self.clock() - self._read_at >= self.refresh_s and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._reload_in_background, name=f"secret-{self.name}", daemon=True).start()
        return self._value


class WeakAdminToken(B2BRecError):
    code = "weak_admin_token"


def usable_admin_token(value: str | None) -> str | None:
    """The token, or ``None`` (admin disabled) when it is missing, empty or too short to trust."""
    token = value.strip() if value else ""
    if len(token) < MIN_ADMIN_TOKEN_LENGTH:
        if value is not None:
            log.error("admin token ignored: blank or shorter than %d characters", MIN_ADMIN_TOKEN_LENGTH)
        return None
    return token


class Credentials:
    """What ``require_api_key`` and ``require_admin`` check against.

    ``admin_required`` / ``keys_required`` say whether a missing token / an empty key list must refuse
    calls (403) whatever the backend: once credentials are configured, losing them never opens the
    API (issue 10, B1). Only credentials never configured at all leave the local default open."""

    def __init__(
        self,
        api_keys: Callable[[], tuple[bytes, ...]],
        admin_token: Callable[[], str | None],
        *,
        keys_required: Callable[[], bool] = lambda: False,
        admin_required: Callable[[], bool] = lambda: False,
    ) -> None:
        self._api_keys = api_keys
        self._admin_token = admin_token
        self._keys_required = keys_required
        self._admin_required = admin_required

    def api_keys(self) -> tuple[bytes, ...]:
        return self._api_keys()

    def admin_token(self) -> str | None:
        return self._admin_token()

    def keys_required(self) -> bool:
        return self._keys_required()

    def admin_required(self) -> bool:
        return self._admin_required()

    @classmethod
    def from_settings(cls, serving: ServingSettings, store: SecretStore | None = None) -> Credentials:
        """Settings values where given, else the secrets in ``store`` (if any), kept fresh.

        With a store (a client's real service, on every backend) the admin token is mandatory: the
        local project creates one with the project, the GCP stack the secret. A token secret that is
        blank or short at start refuses to start; one blanked, shortened or deleted later disables
        /admin (403). The API keys secret, once it exists (the client app leaves it empty when the
        last key is revoked) or once keys were read, is mandatory too: no keys then means 403."""
        if serving.api_keys is not None or store is None:
            static_keys = serving.accepted_api_keys()

            def api_keys() -> tuple[bytes, ...]:
                return static_keys

            def keys_required() -> bool:
                return bool(static_keys)
        else:
            keys_secret = RefreshingSecret(store, serving.api_keys_secret, serving.credentials_refresh_s)
            seen = [keys_secret.value is not None]

            def api_keys() -> tuple[bytes, ...]:
                value = keys_secret.value
                if value is not None:
                    seen[0] = True
                return split_keys(value) if value else ()

            def keys_required() -> bool:
                return seen[0]

        if serving.admin_token is not None or store is None:
            # ServingSettings already refused an empty or short configured token.
            static_token = serving.admin_token.get_secret_value().strip() if serving.admin_token else None

            def admin_token() -> str | None:
                return static_token

            def admin_required() -> bool:
                return static_token is not None
        else:
            token_secret = RefreshingSecret(store, serving.admin_token_secret, serving.credentials_refresh_s)
            initial = token_secret.value
            if initial is not None and usable_admin_token(initial) is None:
                raise WeakAdminToken(
                    f"the {serving.admin_token_secret} secret is blank or shorter than {MIN_ADMIN_TOKEN_LENGTH} "
                    "characters: refusing to start with a guessable admin token; store a long random one"
                )

            def admin_token() -> str | None:
                # A token blanked, shortened or deleted later disables /admin (logged), never opens it.
                return usable_admin_token(token_secret.value)

            def admin_required() -> bool:
                return True

        return cls(api_keys, admin_token, keys_required=keys_required, admin_required=admin_required)
