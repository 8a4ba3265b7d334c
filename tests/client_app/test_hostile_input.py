"""Hostile input on the forms: every value of the shared hostile-host corpus is refused with a clear
message and a fix, nothing is saved (no connection row, no stored password), and a secret typed into
the host field never comes back in the page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from client_app.extensions import db
from client_app.models import Connection, SavedView, User
from tests.security.corpus import SECRET_LIKE

SignedIn = Callable[[str], tuple[FlaskClient, str]]
PASSWORD = "pw-Zq9x-not-shown"


def test_every_hostile_host_is_refused_and_nothing_is_saved(
    app: Flask, signed_in: SignedIn, hostile_hosts: list[str]
) -> None:
    client, token = signed_in("admin")
    for host in hostile_hosts:  # the shared corpus (tests/conftest.py), SECRET_LIKE included
        form = {
            "name": "erp",
            "kind": "postgresql",
            "host": host,
            "port": "5432",
            "database": "erp",
            "username": "reader",
            "password": PASSWORD,
            "csrf_token": token,
        }
        response = client.post("/connections/", data=form)
        page = response.get_data(as_text=True)
        assert response.status_code == 400, host
        assert "how to fix" in page, host
        assert PASSWORD not in page
        if host in SECRET_LIKE:
            assert host not in page and "S3cr3t" not in page and "Tr0ub4dor" not in page
    with app.app_context():
        from client_app.client import current_client

        assert db.session.query(Connection).count() == 0
        assert not current_client().backends.secrets.exists("source-erp-password")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "../../etc"),
        ("name", "erp; DROP TABLE x"),
        ("name", "a" * 200),
        ("database", "erp\x00"),
        ("username", "u\nser"),
        ("port", "99999"),
        ("port", "5432 OR 1=1"),
        ("kind", "oracle"),
    ],
)
def test_other_connection_fields_are_checked_too(app: Flask, signed_in: SignedIn, field: str, value: str) -> None:
    client, token = signed_in("admin")
    form = {
        "name": "erp",
        "kind": "postgresql",
        "host": "93.184.216.34",
        "port": "5432",
        "database": "erp",
        "username": "reader",
        "password": PASSWORD,
        "csrf_token": token,
        field: value,
    }
    response = client.post("/connections/", data=form)
    assert response.status_code == 400
    assert "how to fix" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Connection).count() == 0


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@b", "x@example.com\r\nBcc: evil@example.com", "<script>@x.com", "a" * 300 + "@x.com"]
)
def test_user_form_refuses_bad_emails(app: Flask, signed_in: SignedIn, email: str) -> None:
    client, token = signed_in("admin")
    response = client.post(
        "/users",
        data={"email": email, "name": "N", "role": "viewer", "password": "long-enough-pw", "csrf_token": token},
    )
    assert response.status_code == 400
    with app.app_context():
        assert db.session.query(User).count() == 3


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM raw_data.transactions",
        "SELECT 1; DROP TABLE raw_data.transactions",
        "SELECT * FROM other_project.raw_data.transactions",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM read_csv('/etc/passwd')",
        "CREATE TABLE raw_data.x AS SELECT 1",
        "SELECT * FROM secrets",
    ],
)
def test_saved_views_only_read_the_clients_datasets(app: Flask, signed_in: SignedIn, sql: str) -> None:
    client, token = signed_in("member")
    response = client.post("/datasets/views", data={"name": "v1", "sql": sql, "csrf_token": token})
    assert response.status_code == 302
    assert "how to fix" in client.get("/datasets/").get_data(as_text=True)
    with app.app_context():
        assert db.session.query(SavedView).count() == 0


def test_a_valid_view_is_saved_and_runs(app: Flask, signed_in: SignedIn) -> None:
    client, token = signed_in("member")
    sql = "SELECT product_id, COUNT(*) AS n FROM raw_data.transactions GROUP BY product_id ORDER BY n DESC"
    client.post("/datasets/views", data={"name": "top", "sql": sql, "csrf_token": token})
    with app.app_context():
        view = db.session.query(SavedView).one()
    page = client.get(f"/datasets/views/{view.id}").get_data(as_text=True)
    assert page.count("<tr>") == 61  # header + the 60 products of the tiny world
