"""Who may call the retraining check from outside (GCP: the stack's Cloud Scheduler job).

The job sends an OIDC ID token of the scheduler service account, for a fixed audience; the app
verifies its Google signature, audience and expiry (google-auth) and that it names exactly the
configured account. Without ``B2BREC_APP_SCHEDULER_INVOKER`` the endpoint does not exist (404):
locally the app's own beat runs the check.
"""

from __future__ import annotations

from typing import Any

from client_app.config import AppConfig
from client_app.errors import AppError


def verify(authorization: str, config: AppConfig) -> dict[str, Any]:
    """The token's claims, or an AppError (401 no/invalid token, 403 another account)."""
    if not config.scheduler_invoker or not config.scheduler_audience:
        raise AppError("no such endpoint", code="not_found", fix="the retraining check is called by the scheduler")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AppError(
            "the retraining check needs the scheduler's OIDC token",
            code="unauthenticated",
            fix="send Authorization: Bearer <ID token> (Cloud Scheduler does this for the stack's job)",
        )
    import google.auth.exceptions
    import google.auth.transport.requests
    import google.oauth2.id_token

    try:
        claims = google.oauth2.id_token.verify_token(
            token.strip(),
            google.auth.transport.requests.Request(),  # type: ignore[no-untyped-call]
            audience=config.scheduler_audience,
            certs_url=config.oidc_certs_url,
        )
    except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
        raise AppError(
            f"the token was refused: {str(exc)[:120]}",
            code="unauthenticated",
            fix="send a fresh ID token of the scheduler account for the configured audience",
        ) from None
    if claims.get("email") != config.scheduler_invoker or not claims.get("email_verified", False):
        raise AppError(
            "the token is not the scheduler account's",
            code="forbidden",
            fix="only the stack's scheduler job calls this",
        )
    return dict(claims)
