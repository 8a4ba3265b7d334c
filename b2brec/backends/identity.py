"""Google ID tokens for the client's MLflow service, which is internal-ingress with IAM invokers.

A caller (a Vertex AI stage joined to the VPC by its Private Service Connect interface, the serving
API, the client app) must send ``Authorization: Bearer <ID token>`` whose audience is the service's
URL. MLflow's REST client reads ``MLFLOW_TRACKING_TOKEN`` on every request, so keeping that variable
fresh (ID tokens live one hour) is all it takes; nothing happens for local ``http://`` servers.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, MutableMapping

log = logging.getLogger(__name__)

TOKEN_ENV = "MLFLOW_TRACKING_TOKEN"
REFRESH_S = 30 * 60.0
"""Google ID tokens expire after an hour; refreshed at half-life."""
_CLOUD_RUN = re.compile(r"^https://[a-z0-9-]+(\.[a-z0-9-]+)*\.run\.app/?$")


def needs_identity_token(uri: str) -> bool:
    """True for a Cloud Run URL (``https://…run.app``): IAM checks an ID token on every call."""
    return bool(_CLOUD_RUN.match(uri))


def fetch_identity_token(audience: str) -> str:
    """An ID token for ``audience`` from the attached service account (metadata server on GCP)."""
    import google.auth.transport.requests
    import google.oauth2.id_token

    return str(google.oauth2.id_token.fetch_id_token(google.auth.transport.requests.Request(), audience))


def authenticate_mlflow(
    uri: str,
    *,
    fetch: Callable[[str], str] = fetch_identity_token,
    environ: MutableMapping[str, str] | None = None,
    refresh_s: float | None = REFRESH_S,
) -> bool:
    """Set ``MLFLOW_TRACKING_TOKEN`` to an ID token for ``uri`` (and keep it fresh in the background)
    when ``uri`` is a Cloud Run URL; return whether it did. A token already set (an earlier call, or an
    operator's own) is left alone."""
    env = os.environ if environ is None else environ
    if not needs_identity_token(uri) or TOKEN_ENV in env:
        return False
    audience = uri.rstrip("/")
    env[TOKEN_ENV] = fetch(audience)
    if refresh_s:
        _start_refresher(audience, fetch, env, refresh_s)
    return True


def _start_refresher(
    audience: str, fetch: Callable[[str], str], env: MutableMapping[str, str], refresh_s: float
) -> None:
    def loop() -> None:
        while not stop.wait(refresh_s):
            try:
                env[TOKEN_ENV] = fetch(audience)
            except Exception as exc:  # the next call fails with 401 and says so; keep trying
                log.warning("could not refresh the MLflow ID token: %s", type(exc).__name__)

    stop = threading.Event()
    threading.Thread(target=loop, name="mlflow-id-token", daemon=True).start()
