"""Real Redis servers for broker tests: the machine's Redis (a dedicated, flushed database number) and a
Memorystore-shaped one started here: TLS only, AUTH required, a server certificate signed by a CA made for
this server alone and naming its IP in the subject only (as Memorystore's does, so no host name check)."""

from __future__ import annotations

import datetime
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import _unavailable

LOCAL_REDIS = ("127.0.0.1", 6379)


def local_redis_url(db: int) -> str:
    """``redis://127.0.0.1:6379/db`` after flushing ``db`` (skips, or fails in CI, without a server)."""
    import redis

    client = redis.Redis(*LOCAL_REDIS, db=db, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    finally:
        client.close()
    return f"redis://{LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}/{db}"


def make_ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class TlsRedis:
    host: str
    port: int
    password: str
    ca_pem: str
    """The PEM of the CA that signed the server's certificate (what ``server_ca_certs`` gives on GCP)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    """A redis-server on a free port: TLS only (no plain port), ``requirepass``, no client certificates."""
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server", FileNotFoundError("redis-server is not on PATH"))
        raise AssertionError("unreachable")
    ca_key, ca = make_ca("memorystore-shaped test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    folder = tmp_path / "tls-redis"
    folder.mkdir()
    (folder / "server.crt").write_text(pem(server))
    (folder / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "ca.crt").write_text(pem(ca))
    port, password = _free_port(), "auth-string-with/odd:chars@" + folder.name
    log = open(folder / "redis.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [
            binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(folder / "server.crt"), "--tls-key-file", str(folder / "server.key"),
            "--tls-ca-cert-file", str(folder / "ca.crt"), "--tls-auth-clients", "no",
            "--requirepass", password, "--save", "", "--appendonly", "no", "--dir", str(folder),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((folder / "redis.log").read_text()) from None
                time.sleep(0.1)
        yield TlsRedis("127.0.0.1", port, password, pem(ca))
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
