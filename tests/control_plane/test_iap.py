"""IAP JWT verification: tokens signed here with a P-256 key; only the JWKS download (the
key-loading boundary) is replaced, every check (signature, audience, issuer, expiry) is real."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import crypt
from google.auth import jwt as google_jwt

from b2brec.settings import Settings
from control_plane.auth.iap import IAP_HEADER, IAP_ISSUER
from tests.control_plane.conftest import OPERATORS, build_app

AUDIENCE = "/projects/123456/global/backendServices/987654"


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


class Keys:
    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        from cryptography.hazmat.primitives import serialization

        pem = self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.signer = crypt.ES256Signer.from_string(pem, key_id="key-1")
        numbers = self.private.public_key().public_numbers()
        self.jwks = {
            "keys": [{"kty": "EC", "crv": "P-256", "kid": "key-1", "x": _b64(numbers.x), "y": _b64(numbers.y)}]
        }
        self.fetched: list[str] = []

    def loader(self, url: str) -> dict[str, Any]:
        self.fetched.append(url)
        return self.jwks

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": IAP_ISSUER,
            "aud": AUDIENCE,
            "email": OPERATORS["viewer"],
            "sub": "accounts.google.com:1",
            "iat": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        return google_jwt.encode(self.signer, claims).decode()


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def iap_client(settings: Settings, tmp_path: Path, keys: Keys):
    app = build_app(settings, tmp_path, overrides={"iap_audience": AUDIENCE}, jwks_loader=keys.loader)
    return app.test_client()


def test_valid_assertion_signs_the_operator_in(iap_client, keys: Keys) -> None:
    response = iap_client.get("/api/clients", headers={IAP_HEADER: keys.token()})
    assert response.status_code == 200, response.get_json()
    assert keys.fetched == ["https://www.gstatic.com/iap/verify/public_key-jwk"]


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "/projects/1/global/backendServices/2"},
        {"iss": "https://accounts.google.com"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000},
    ],
    ids=["wrong-audience", "wrong-issuer", "expired"],
)
def test_bad_assertions_are_refused(iap_client, keys: Keys, claims: dict[str, Any]) -> None:
    response = iap_client.get("/api/clients", headers={IAP_HEADER: keys.token(**claims)})
    assert response.status_code == 401
    assert response.get_json()["data"]["code"] == "unauthenticated"


def test_missing_or_forged_assertion_is_refused(iap_client, keys: Keys) -> None:
    assert iap_client.get("/api/clients").status_code == 401
    other = Keys()  # same kid, another private key: the signature does not verify
    assert iap_client.get("/api/clients", headers={IAP_HEADER: other.token()}).status_code == 401
    tampered = keys.token().split(".")
    tampered[1] = base64.urlsafe_b64encode(b'{"email":"admin@b2brec.test"}').rstrip(b"=").decode()
    assert iap_client.get("/api/clients", headers={IAP_HEADER: ".".join(tampered)}).status_code == 401


def test_iap_user_who_is_not_an_operator_is_refused(iap_client, keys: Keys) -> None:
    response = iap_client.get("/api/clients", headers={IAP_HEADER: keys.token(email="stranger@example.com")})
    assert response.status_code == 403


def test_role_still_applies_behind_iap(iap_client, keys: Keys) -> None:
    token = iap_client.get("/api/csrf", headers={IAP_HEADER: keys.token()}).get_json()["data"]["csrf_token"]
    response = iap_client.post("/api/onboarding", headers={IAP_HEADER: keys.token(), "X-CSRFToken": token})
    assert response.status_code == 403  # a viewer, even through IAP
