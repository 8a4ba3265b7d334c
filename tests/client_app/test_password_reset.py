"""Password reset by email, through a real SMTP server (aiosmtpd) on a free port."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from b2brec.settings import Settings
from client_app import create_app
from client_app.config import AppConfig
from tests.client_app.conftest import csrf_token, dispose, sign_in
from tests.trainer.conftest import free_port


class Sink:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@pytest.fixture
def mail_app(app_config: AppConfig, settings: Settings, smtp: tuple[Sink, int]) -> Iterator[Flask]:
    config = app_config.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp[1], "base_url": "http://app.test"}
    )
    app = create_app(config, settings)
    with app.app_context():
        from client_app.auth.services import create_user

        create_user("ana@example.com", "Ana", "member", "old-password-1")
    yield app
    dispose(app)


def test_reset_link_by_email_sets_a_new_password_once(mail_app: Flask, smtp: tuple[Sink, int]) -> None:
    sink, _ = smtp
    client = mail_app.test_client()
    client.post("/forgot", data={"email": "ana@example.com", "csrf_token": csrf_token(client, "/forgot")})
    client.post("/forgot", data={"email": "nobody@example.com", "csrf_token": csrf_token(client, "/forgot")})
    assert len(sink.messages) == 1  # only the real user gets mail; the page says the same either way
    body = sink.messages[0].get_payload(decode=True).decode()
    assert sink.messages[0]["To"] == "ana@example.com"
    path = re.search(r"http://app\.test(/reset/\S+)", body).group(1)

    response = client.post(path, data={"password": "new-password-2", "csrf_token": csrf_token(client, path)})
    assert response.status_code == 302, re.findall(r'role="alert">([^<]*)', response.get_data(as_text=True))
    sign_in(client, "ana@example.com", "new-password-2")

    other = mail_app.test_client()
    reused = other.get(path)
    assert reused.status_code == 400 and "already used" in reused.get_data(as_text=True)


def test_a_tampered_reset_link_is_refused(mail_app: Flask) -> None:
    response = mail_app.test_client().get("/reset/eyJpZCI6MX0.forged.signature")
    assert response.status_code == 400
    assert "not valid" in response.get_data(as_text=True)
