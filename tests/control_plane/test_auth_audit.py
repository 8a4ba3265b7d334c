"""Operators, roles, CSRF, the JSON error shape and the audit log (Flask test client, SQLite)."""

from __future__ import annotations

import re

from flask import Flask

from tests.control_plane.conftest import OPERATORS, PASSWORD, LoginAs


def test_login_page_sets_secure_session_cookie_flags(settings, tmp_path) -> None:
    from tests.control_plane.conftest import build_app

    app = build_app(settings, tmp_path, overrides={"secure_cookies": True})
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": OPERATORS["viewer"], "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_form_post_without_csrf_token_is_refused(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/login", data={"email": OPERATORS["admin"], "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_wrong_password_is_refused_with_json_error(app: Flask) -> None:
    response = app.test_client().post("/api/login", json={"email": OPERATORS["admin"], "password": "nope-nope-nope"})
    assert response.status_code == 401
    body = response.get_json()
    assert body["status"] == "error" and body["data"]["code"] == "unauthenticated" and body["data"]["fix"]


def test_api_needs_sign_in(app: Flask) -> None:
    response = app.test_client().get("/api/clients")
    assert response.status_code == 401
    assert response.get_json()["status"] == "error"


def test_passwords_are_hashed(app: Flask) -> None:
    from control_plane.auth.services import by_email

    with app.app_context():
        operator = by_email(OPERATORS["admin"])
        assert operator is not None
        assert PASSWORD not in operator.password_hash and operator.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_viewer_cannot_change_anything(app: Flask, login: LoginAs) -> None:
    viewer = login("viewer")
    attempts = [
        ("/api/onboarding", {}),
        ("/api/templates", {"version": "1.0.0"}),
        ("/api/rollouts", {"version": "1.0.0"}),
        ("/api/billing/meter", {}),
        ("/api/health/poll", {}),
    ]
    for path, payload in attempts:
        response = viewer.post(path, json=payload)
        assert response.status_code == 403, path
        assert response.get_json()["data"]["code"] == "forbidden"
    audit = viewer.get("/api/audit").get_json()["data"]["entries"]
    assert all(e["actor"] == "test-setup" for e in audit)  # only the fixture's operator creation


def test_every_change_is_audited_with_before_and_after(app: Flask, login: LoginAs) -> None:
    admin = login("admin")
    digest = "sha256:" + "ab" * 32
    response = admin.post("/api/templates", json={"version": "1.0.0", "notes": "first", "images": {"serving": digest}})
    assert response.status_code == 201, response.get_json()
    from provisioning.templates import current_source

    assert response.get_json()["data"]["version"]["source"]["digest"] == current_source().digest
    page = admin.get("/templates/").get_data(as_text=True)
    assert f'<code title="{current_source().digest}' in page  # the stacks code the version is made of
    admin.post("/api/templates/1.0.0/release")
    entries = admin.get("/api/audit").get_json()["data"]["entries"]
    release = next(e for e in entries if e["action"] == "template.release")
    assert release["actor"] == OPERATORS["admin"]
    assert release["before"]["status"] == "candidate" and release["after"]["status"] == "released"
    assert any(e["action"] == "template.candidate" for e in entries)


def test_only_three_released_versions_stay_deployable(app: Flask, login: LoginAs) -> None:
    admin = login("admin")
    for minor in range(5):
        version = f"1.{minor}.0"
        assert admin.post("/api/templates", json={"version": version, "release": True}).status_code == 201
    versions = {v["version"]: v["status"] for v in admin.get("/api/templates").get_json()["data"]["versions"]}
    assert versions == {
        "1.4.0": "released",
        "1.3.0": "released",
        "1.2.0": "released",
        "1.1.0": "retired",
        "1.0.0": "retired",
    }
    refused = admin.post("/api/rollouts", json={"version": "1.0.0"})
    assert refused.status_code == 409 and refused.get_json()["data"]["code"] == "template_retired"


def test_bad_template_input_is_refused_and_nothing_saved(app: Flask, login: LoginAs) -> None:
    admin = login("admin")
    for payload in (
        {"version": "1.0"},
        {"version": "1.0.0", "images": {"serving": "latest"}},
        {"version": "1.0.0", "images": {"../etc": "sha256:" + "0" * 64}},
        {"version": "../../etc", "images": {}},
        {"version": "1.0.0", "images": ["serving"]},
    ):
        response = admin.post("/api/templates", json=payload)
        assert response.status_code in (400, 422), payload
        assert response.get_json()["data"]["fix"]
    assert admin.get("/api/templates").get_json()["data"]["versions"] == []
