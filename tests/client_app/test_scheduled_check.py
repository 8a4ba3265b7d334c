"""The retraining check the stack's Cloud Scheduler job calls: only with an ID token of the configured
scheduler account for the configured audience (verified with google-auth against signing certificates
served here by a local HTTP server, as Google serves its own); otherwise refused, and nothing runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from google.auth import crypt, jwt

from b2brec.settings import Settings
from client_app import create_app
from client_app.config import AppConfig
from client_app.models import Job
from tests.client_app.conftest import dispose

INVOKER = "scheduler@client-demo-wholesale-dev.iam.gserviceaccount.com"
AUDIENCE = "b2brec-retrain-check:client-demo-wholesale-dev"
KID = "test-key-1"


@pytest.fixture(scope="module")
def signing() -> Iterator[tuple[bytes, str]]:
    """(private key PEM, certificates URL) of a key whose certificate a local server publishes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test signer")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certs = json.dumps({KID: cert.public_bytes(serialization.Encoding.PEM).decode()}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(certs)))
            self.end_headers()
            self.wfile.write(certs)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    yield pem, f"http://127.0.0.1:{server.server_address[1]}/certs"
    server.shutdown()
    server.server_close()


def _token(pem: bytes, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "email": INVOKER, "email_verified": True,
               "sub": "1", "iat": now, "exp": now + 300, **claims}  # fmt: skip
    return jwt.encode(crypt.RSASigner.from_string(pem, KID), payload).decode()


@pytest.fixture
def checked(app_config: AppConfig, settings: Settings, signing: tuple[bytes, str]) -> Iterator[Flask]:
    config = app_config.model_copy(
        update={"scheduler_invoker": INVOKER, "scheduler_audience": AUDIENCE, "oidc_certs_url": signing[1]}
    )
    app = create_app(config, settings)
    with app.app_context():
        # the last run trained on exactly what the warehouse holds: the check must skip
        from client_app.extensions import db
        from client_app.training.retrain import data_snapshot

        last = Job(kind="training", status="succeeded", requested_by="a@b.c", progress={"data": data_snapshot()})
        db.session.add(last)
        db.session.commit()
    yield app
    dispose(app)


def _jobs(app: Flask) -> list[Job]:
    with app.app_context():
        from client_app.extensions import db

        return list(db.session.scalars(db.select(Job).order_by(Job.id)))


def test_only_the_scheduler_accounts_token_runs_the_check(checked: Flask, signing: tuple[bytes, str]) -> None:
    pem = signing[0]
    client = checked.test_client()
    path = "/training/api/scheduled-check"
    refused = {
        "no token": ({}, 401),
        "not a token": ({"Authorization": "Bearer not-a-jwt"}, 401),
        "other audience": ({"Authorization": f"Bearer {_token(pem, aud='https://elsewhere')}"}, 401),
        "expired": ({"Authorization": f"Bearer {_token(pem, iat=1, exp=2)}"}, 401),
        "other account": ({"Authorization": f"Bearer {_token(pem, email='intruder@example.com')}"}, 403),
        "unverified email": ({"Authorization": f"Bearer {_token(pem, email_verified=False)}"}, 403),
    }
    for what, (headers, status) in refused.items():
        response = client.post(path, headers=headers)
        body = response.get_json()
        assert response.status_code == status, (what, body)
        assert body["status"] == "error" and body["data"]["fix"], what
    assert len(_jobs(checked)) == 1  # nothing ran

    response = client.post(path, headers={"Authorization": f"Bearer {_token(pem)}"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["skip_reason"].startswith("no new data since the last run")
    assert [j.status for j in _jobs(checked)] == ["succeeded", "skipped"]


def test_without_a_configured_invoker_there_is_no_such_endpoint(app: Flask) -> None:
    response = app.test_client().post("/training/api/scheduled-check", headers={"Authorization": "Bearer x"})
    assert response.status_code == 404
