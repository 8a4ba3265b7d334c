"""Identity-Aware Proxy: verify the signed header IAP adds to every request on GCP.

IAP signs ``X-Goog-IAP-JWT-Assertion`` with ES256; its public keys are a JWK set at
``iap_jwks_url``. :func:`fetch_jwks` is the one network call (the key-loading boundary);
everything else (signature, expiry, issuer, audience) is checked here, so a test hands in
its own key set and signs its own tokens.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import jwt as google_jwt

from control_plane.errors import ControlPlaneError

IAP_HEADER = "X-Goog-IAP-JWT-Assertion"
IAP_ISSUER = "https://cloud.google.com/iap"
KEY_CACHE_SECONDS = 3600.0

JwksLoader = Callable[[str], dict[str, Any]]


def fetch_jwks(url: str) -> dict[str, Any]:
    """Download IAP's JWK set (the only network access of IAP verification)."""
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - fixed https URL from settings
        payload: dict[str, Any] = json.loads(response.read())
    return payload


def _b64int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def jwk_to_pem(jwk: dict[str, Any]) -> str:
    """A P-256 JWK as a PEM public key (what google-auth's ES256 verifier loads)."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError(f"unsupported IAP key type {jwk.get('kty')}/{jwk.get('crv')}")
    numbers = ec.EllipticCurvePublicNumbers(_b64int(jwk["x"]), _b64int(jwk["y"]), ec.SECP256R1())
    key = numbers.public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass(frozen=True)
class IapIdentity:
    email: str
    subject: str


class IapVerifier:
    """Verifies IAP assertions against one audience, caching the key set for an hour."""

    def __init__(self, audience: str, jwks_url: str, loader: JwksLoader = fetch_jwks) -> None:
        self.audience = audience
        self.jwks_url = jwks_url
        self.loader = loader
        self._keys: dict[str, str] = {}
        self._loaded_at = 0.0

    def _certs(self) -> dict[str, str]:
        if not self._keys or time.monotonic() - self._loaded_at > KEY_CACHE_SECONDS:
            jwks = self.loader(self.jwks_url)
            self._keys = {key["kid"]: jwk_to_pem(key) for key in jwks.get("keys", []) if "kid" in key}
            self._loaded_at = time.monotonic()
        return self._keys

    def verify(self, assertion: str | None) -> IapIdentity:
        refused = ControlPlaneError(
            "this app is reached through Identity-Aware Proxy only; the IAP assertion is missing or invalid",
            code="unauthenticated",
            fix="open the control plane through its IAP URL",
        )
        if not assertion:
            raise refused
        try:
            claims = google_jwt.decode(assertion, certs=self._certs(), audience=self.audience)
        except (ValueError, KeyError) as exc:
            raise refused from exc
        if claims.get("iss") != IAP_ISSUER or not claims.get("email"):
            raise refused
        email = str(claims["email"]).removeprefix("accounts.google.com:")
        return IapIdentity(email=email, subject=str(claims.get("sub", "")))
