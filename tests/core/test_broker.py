"""b2brec.broker: the broker settings both apps use, against a real Memorystore-shaped Redis (TLS only, AUTH,
a CA of its own): a message goes through with the settings the stack gives; a server signed by another CA,
a wrong AUTH string or incomplete settings are refused with the reason."""

from __future__ import annotations

import ssl

import pytest
from kombu import Connection
from pydantic import SecretStr

from b2brec.broker import (
    AUTH_ENV,
    CA_ENV,
    HOST_ENV,
    PORT_ENV,
    BrokerSettings,
    celery_broker,
    load_settings,
)
from b2brec.errors import B2BRecError
from tests import redis_servers
from tests.redis_servers import TlsRedis, make_ca, pem

tls_redis = redis_servers.tls_redis


def _env(monkeypatch: pytest.MonkeyPatch, server: TlsRedis, **override: str) -> None:
    values = {HOST_ENV: server.host, PORT_ENV: str(server.port), CA_ENV: server.ca_pem, AUTH_ENV: server.password}
    for name, value in {**values, **override}.items():
        monkeypatch.setenv(name, value)


def _round_trip(config: dict[str, object]) -> object:
    with Connection(config["broker_url"], ssl=config["broker_use_ssl"], connect_timeout=5) as conn:
        queue = conn.SimpleQueue("b2brec-broker-test")
        try:
            queue.put({"job": 42})
            message = queue.get(timeout=5)
            message.ack()
            return message.payload
        finally:
            queue.close()


def test_a_message_goes_through_memorystore_shaped_redis_with_the_stacks_settings(
    monkeypatch: pytest.MonkeyPatch, tls_redis: TlsRedis
) -> None:
    _env(monkeypatch, tls_redis)
    config = celery_broker(None, lambda: pytest.fail("the local broker must not be used"))
    url = str(config["broker_url"])
    assert url.startswith("rediss://:") and url.endswith(f"@127.0.0.1:{tls_redis.port}/0")
    assert "/" not in url.removeprefix("rediss://").split("@")[0], "the AUTH string is URL-quoted"
    assert config["broker_use_ssl"] == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_data": tls_redis.ca_pem,
        "ssl_check_hostname": False,
    }
    assert _round_trip(config) == {"job": 42}


def test_a_server_signed_by_another_ca_is_refused(monkeypatch: pytest.MonkeyPatch, tls_redis: TlsRedis) -> None:
    _env(monkeypatch, tls_redis, **{CA_ENV: pem(make_ca("someone else")[1])})
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        _round_trip(celery_broker(None, str))


def test_a_wrong_auth_string_is_refused(monkeypatch: pytest.MonkeyPatch, tls_redis: TlsRedis) -> None:
    _env(monkeypatch, tls_redis, **{AUTH_ENV: "not-the-auth-string"})
    with pytest.raises(Exception, match="(?i)invalid password|WRONGPASS|invalid username-password"):
        _round_trip(celery_broker(None, str))


def test_an_explicit_url_wins_and_nothing_set_means_the_apps_local_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (HOST_ENV, PORT_ENV, CA_ENV, AUTH_ENV):
        monkeypatch.delenv(name, raising=False)
    local = "sqla+sqlite:////tmp/x/celery-broker.sqlite"
    assert celery_broker(None, lambda: local) == {"broker_url": local, "broker_use_ssl": False}
    assert celery_broker("redis://127.0.0.1:6379/3", lambda: local) == {
        "broker_url": "redis://127.0.0.1:6379/3",
        "broker_use_ssl": False,
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({HOST_ENV: "10.0.0.3", CA_ENV: "x"}, "B2BREC_BROKER_CA: is not a PEM certificate"),
        ({HOST_ENV: "10.0.0.3"}, "B2BREC_BROKER_HOST is set but B2BREC_BROKER_AUTH is not"),
        ({HOST_ENV: "10.0.0.3", AUTH_ENV: "s3cret-auth"}, "B2BREC_BROKER_HOST is set but B2BREC_BROKER_CA is not"),
        ({PORT_ENV: "70000"}, "B2BREC_BROKER_PORT"),
    ],
)
def test_incomplete_or_bad_settings_name_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name in (HOST_ENV, PORT_ENV, CA_ENV, AUTH_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(B2BRecError) as caught:
        load_settings()
    assert caught.value.code == "invalid_settings"
    assert message in caught.value.message
    assert "s3cret-auth" not in caught.value.message, "the AUTH string is never shown"
    assert caught.value.fix and "B2BREC_BROKER_HOST" in caught.value.fix


def test_the_default_port_is_memorystores_tls_port() -> None:
    assert BrokerSettings(host="10.0.0.3", auth=SecretStr("a"), ca=pem(make_ca("x")[1])).port == 6378
