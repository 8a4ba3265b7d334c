"""Roles: a member cannot manage users or API keys; a viewer cannot train, deploy or run the ETL.
Each refusal is a 403 that names the role needed, and nothing is changed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from client_app.extensions import db
from client_app.models import ApiKey, Job, User

SignedIn = Callable[[str], tuple[FlaskClient, str]]


@pytest.mark.parametrize(
    ("role", "method", "path", "data"),
    [
        ("member", "get", "/users", None),
        ("member", "post", "/users", {"email": "x@example.com", "name": "X", "role": "admin", "password": "a" * 12}),
        ("member", "post", "/deployments/keys", {"name": "shop"}),
        ("member", "post", "/connections/", {"name": "erp", "kind": "postgresql"}),
        ("viewer", "post", "/training/", {}),
        ("viewer", "post", "/deployments/deploy", {"version": "v1"}),
        ("viewer", "post", "/deployments/rollback", {}),
        ("viewer", "post", "/etl/run", {}),
    ],
)
def test_a_role_below_the_one_needed_gets_403_and_nothing_changes(
    app: Flask, signed_in: SignedIn, role: str, method: str, path: str, data: dict[str, str] | None
) -> None:
    client, token = signed_in(role)
    with app.app_context():
        before = (db.session.query(User).count(), db.session.query(ApiKey).count(), db.session.query(Job).count())
    if method == "get":
        response = client.get(path)
    else:
        response = client.post(path, data={**(data or {}), "csrf_token": token})
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert f"your role ({role}) cannot do this" in page
    assert "ask an admin" in page
    with app.app_context():
        after = (db.session.query(User).count(), db.session.query(ApiKey).count(), db.session.query(Job).count())
    assert after == before


def test_json_api_refusals_use_the_shared_error_shape(signed_in: SignedIn) -> None:
    client, token = signed_in("member")
    response = client.post("/deployments/api/keys", json={"name": "shop"}, headers={"X-CSRFToken": token})
    assert response.status_code == 403
    body = response.get_json()
    assert body["status"] == "error"
    assert body["data"]["code"] == "forbidden"
    assert "admin" in body["data"]["fix"]


def test_admin_creates_a_key_that_is_shown_once_and_stored_only_as_a_secret(app: Flask, signed_in: SignedIn) -> None:
    client, token = signed_in("admin")
    page = client.post("/deployments/keys", data={"name": "web shop", "csrf_token": token}).get_data(as_text=True)
    key = page.split('id="new-key">')[1].split("<")[0]
    assert key.startswith("b2b_") and len(key) > 40
    assert key not in client.get("/deployments/").get_data(as_text=True)  # never shown again
    with app.app_context():
        from client_app.client import current_client

        stored = current_client().backends.secrets.get("serving-api-keys")
        row = db.session.query(ApiKey).one()
    assert stored.splitlines() == [key]
    assert key not in (row.prefix + row.key_hash) and row.prefix == key[:10]


def test_signed_out_users_are_sent_to_sign_in(app: Flask) -> None:
    response = app.test_client().get("/training/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_wrong_password_does_not_sign_in(app: Flask) -> None:
    from tests.client_app.conftest import csrf_token

    client = app.test_client()
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": "admin@example.com", "password": "nope-nope-nope", "csrf_token": token}
    )
    assert response.status_code == 401
    assert client.get("/dashboard/").status_code == 302


def test_a_post_without_csrf_token_is_refused(app: Flask, signed_in: SignedIn) -> None:
    client, _ = signed_in("admin")
    response = client.post(
        "/users", data={"email": "csrf@example.com", "name": "C", "role": "admin", "password": "a" * 12}
    )
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(User).filter_by(email="csrf@example.com").count() == 0
