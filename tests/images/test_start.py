"""Each image started as the stacks run it: its own environment (only what its Dockerfile installs), the
Dockerfile's command, and the variables and arguments of the synthesized ``cdk.tf.json``. Each must
get past configuration and reach its first real dependency:

- serving: loads a bundle from the client's models bucket in a GCS emulator (gcp-storage-emulator)
  and answers /recommend with the model's own top-k;
- MLflow: starts against a real PostgreSQL with the database URI the stack gives it, as the IAM user
  the stack names, and creates its schema;
- ETL: reaches the client's secrets or warehouse (Secret Manager / BigQuery: no emulator here, the
  requests are asserted in tests/core/test_backends_gcp.py);
- the two Flask apps (gunicorn, the image's ENTRYPOINT): with exactly the stack's variables they get past
  their settings and stop at Secret Manager (their key lives there; no emulator); with the key given as a
  single machine gives it they migrate a real PostgreSQL as the IAM user the stack names and answer
  /healthz, using a Memorystore-shaped broker;
- the apps' workers (Cloud Run worker pools): consume from a Memorystore-shaped broker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from gcsfs.core import GCSFileSystem  # the JSON-API filesystem (the emulator has no gRPC storage-layout API)
from pydantic import SecretStr

from b2brec.backends.storage import ObjectStore
from b2brec.broker import AUTH_ENV, BrokerSettings, celery_broker
from b2brec.bundle import read_bundle, write_bundle
from b2brec.spec import list_environments
from serving.synthetic import synthetic_bundle
from tests import redis_servers
from tests.conftest import POSTGRES_ADMIN_URL, _unavailable
from tests.images.conftest import NO_METADATA_SERVER, free_port, run
from tests.images.contracts import IMAGES
from tests.images.harness import ImageEnv
from tests.images.runtime import containers
from tests.redis_servers import TlsRedis
from tests.synthesized import ENVIRONMENTS, Synthesized

tls_redis = redis_servers.tls_redis

CLIENT_STACKS = list_environments(ENVIRONMENTS)
MLFLOW_URL = "https://mlflow-123456789012.europe-west1.run.app"
"""What ``${google_cloud_run_v2_service.run_mlflow_service.uri}`` resolves to at apply time (its form)."""
REFERENCES = {"run_mlflow_service_66852EEC.uri": MLFLOW_URL, ".uri": MLFLOW_URL}

CONFIG_ERRORS = ("invalid_settings", "invalid_spec", "usage:", "ModuleNotFoundError", "ImportError")
"""Output that means the entrypoint died on its own configuration or packaging, not on a dependency."""


def _runtime(stacks: dict[str, Synthesized], stack: str, kind: str, name: str) -> dict[str, str]:
    runtime = containers(stack, stacks[stack].data)[(kind, name)]
    assert not runtime.args
    return runtime.resolved_env(REFERENCES)


# --- serving -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", CLIENT_STACKS)
def test_serving_loads_its_bundle_from_the_bucket_and_recommends(
    stacks: dict[str, Synthesized], image_envs: dict[str, ImageEnv], gcs_emulator: str, start: Any, stack: str
) -> None:
    spec = stacks[stack].spec
    assert spec is not None
    fs = GCSFileSystem(endpoint_url=gcs_emulator, token="anon", project=spec.project_id)  # noqa: S106
    bucket = spec.bucket("models")
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    models = ObjectStore(f"gs://{bucket}", fs=fs)
    write_bundle(models, synthetic_bundle("20261130-000000-ab12", n_products=300, n_customers=50, seed=7))

    port = free_port()
    env = {
        **_runtime(stacks, stack, "service", "serving"),
        "PORT": str(port),  # Cloud Run sets it
        "STORAGE_EMULATOR_HOST": gcs_emulator,  # the emulator stands in for storage.googleapis.com
        "B2BREC_SERVING_HOST": "127.0.0.1",
        # Secret Manager has no emulator: the key is given the way a single-machine setup gives it.
        "B2BREC_SERVING_API_KEYS": "contract-test-key",
        "B2BREC_SERVING_PREDICTION_LOG": "false",  # BigQuery streaming has no emulator either
        **NO_METADATA_SERVER,
    }
    server = start(image_envs["serving"], env)
    base = f"http://127.0.0.1:{port}"
    assert server.wait_http(f"{base}/health/live").status_code == 200
    ready = server.wait_http(f"{base}/health")
    assert ready.status_code == 200, f"{ready.text}\n{server.output()[-3000:]}"

    response = httpx.post(
        f"{base}/recommend", json={"customer_id": "c3", "k": 5}, headers={"X-API-Key": "contract-test-key"}, timeout=10
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    # Expected: the 5 largest dot products of customer row 3 with every product of the bundle in the bucket.
    bundle = read_bundle(models, "20261130-000000-ab12")
    scores = bundle.candidate_embeddings @ bundle.customer_embeddings[3]
    assert data["model_version"] == "20261130-000000-ab12"
    assert [item["product_id"] for item in data["items"]] == [f"p{i}" for i in np.argsort(-scores)[:5]]
    refused = httpx.post(f"{base}/recommend", json={"customer_id": "c3"}, timeout=10)
    assert refused.status_code in {401, 403}


def test_serving_starts_without_any_model_so_a_first_apply_succeeds(
    stacks: dict[str, Synthesized], image_envs: dict[str, ImageEnv], gcs_emulator: str, start: Any
) -> None:
    """A new client has no model yet: the service must still listen (live, not ready) or Cloud Run fails the apply."""
    spec = stacks["template-dev"].spec
    assert spec is not None
    fs = GCSFileSystem(endpoint_url=gcs_emulator, token="anon", project=spec.project_id)  # noqa: S106
    if fs.exists(spec.bucket("models")):
        fs.rm(spec.bucket("models"), recursive=True)  # an empty (new) client: no bucket content at all
    port = free_port()
    env = {
        **_runtime(stacks, "template-dev", "service", "serving"),
        "PORT": str(port),
        "STORAGE_EMULATOR_HOST": gcs_emulator,
        "B2BREC_SERVING_HOST": "127.0.0.1",
        **NO_METADATA_SERVER,
    }
    server = start(image_envs["serving"], env)
    assert server.wait_http(f"http://127.0.0.1:{port}/health/live").status_code == 200
    assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 503


@contextmanager
def iam_database(user: str) -> Iterator[tuple[str, str]]:
    """A PostgreSQL database owned by a NOLOGIN role and a LOGIN role for ``user`` (plus a test suffix) that is
    only a member of it: what ``database_roles`` grants an IAM database user on Cloud SQL. Yields
    ``(login, database)``; both are dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    database, owner, login = f"b2brec_image_{suffix}", f"cloudsqlsuperuser_{suffix}", f"{user}.{suffix}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE ROLE "{owner}" NOLOGIN'))
            conn.execute(sa.text(f'CREATE ROLE "{login}" LOGIN IN ROLE "{owner}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{database}" OWNER "{owner}"'))
    except Exception as exc:  # noqa: BLE001 (any driver error: the service is not usable)
        admin.dispose()
        _unavailable("PostgreSQL", exc)
    try:
        yield login, database
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{login}"'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{owner}"'))
        admin.dispose()


def local_database_url(stack_url: str, login: str, database: str) -> str:
    """The stack's URI (IAM user through the Auth Proxy on 127.0.0.1:5432, no password) with only the server's
    address, the database and the user's test suffix changed."""
    uri = urlsplit(stack_url)
    assert uri.hostname == "127.0.0.1" and uri.port == 5432 and uri.password is None, stack_url
    admin_url = sa.make_url(POSTGRES_ADMIN_URL)
    return uri._replace(
        netloc=f"{login.replace('@', '%40')}@{admin_url.host or '127.0.0.1'}:{admin_url.port or 5432}",
        path=f"/{database}",
    ).geturl()


def table_owners(database: str, table: str) -> list[str]:
    engine = sa.create_engine(sa.make_url(POSTGRES_ADMIN_URL).set(database=database))
    try:  # disposed here, so no pooled connection is left for the garbage collector to warn about later
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT tableowner FROM pg_tables WHERE tablename = :t"), {"t": table}).all()
    finally:
        engine.dispose()
    return [row[0] for row in rows]


# --- MLflow -------------------------------------------------------------------------------------------


def test_mlflow_starts_on_postgresql_with_the_stacks_uri(
    stacks: dict[str, Synthesized], image_envs: dict[str, ImageEnv], gcs_emulator: str, start: Any, tmp_path: Path
) -> None:
    """The URI the stack gives (IAM user, through the Auth Proxy on 127.0.0.1:5432) against a real
    PostgreSQL, with the user holding only what the stack grants it (membership of the role that owns
    the database, as ``database_roles`` does on Cloud SQL)."""
    env = _runtime(stacks, "nordhandel-prod", "service", "mlflow")
    uri = urlsplit(env["MLFLOW_BACKEND_STORE_URI"])
    assert uri.scheme == "postgresql+psycopg" and uri.hostname == "127.0.0.1" and uri.port == 5432
    assert uri.password is None, "the Auth Proxy logs in with the service account: no password in the URI"
    user = unquote(uri.username or "")
    assert user == "mlflow@client-nordhandel-gmbh-prod.iam"
    with iam_database(user) as (login, database):
        port = free_port()
        server = start(
            image_envs["mlflow"],
            {**env, "MLFLOW_BACKEND_STORE_URI": local_database_url(env["MLFLOW_BACKEND_STORE_URI"], login, database),
             "PORT": str(port), "MLFLOW_HOST": "127.0.0.1", "MLFLOW_WORKERS": "1",
             "STORAGE_EMULATOR_HOST": gcs_emulator, **NO_METADATA_SERVER},
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        assert server.wait_http(f"{base}/health", timeout=180).status_code == 200
        # Its callers use the run.app URL: the Host header the stack allows must be accepted.
        created = httpx.post(
            f"{base}/api/2.0/mlflow/experiments/create",
            json={"name": f"contract-{database}"},
            headers={"Host": urlsplit(MLFLOW_URL).hostname or ""},
            timeout=30,
        )
        assert created.status_code == 200, created.text
        assert table_owners(database, "experiments") == [login], "MLflow created its schema as the IAM user"
        server.stop()


def test_mlflow_refuses_to_start_without_its_database(image_envs: dict[str, ImageEnv], tmp_path: Path) -> None:
    result = run(image_envs["mlflow"], {"MLFLOW_ARTIFACTS_DESTINATION": "gs://x"}, tmp_path / "home")
    assert result.returncode != 0 and "set MLFLOW_BACKEND_STORE_URI" in result.stderr


# --- ETL ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", [s for s in CLIENT_STACKS if s != "demo-dev"])
def test_etl_job_reaches_the_clients_sources_and_warehouse(
    stacks: dict[str, Synthesized], image_envs: dict[str, ImageEnv], tmp_path: Path, stack: str
) -> None:
    """Database sources: after the spec is read and validated (and without the trainer settings the old
    eager factory demanded), the job checks its sources (the host's address: none resolves here) and
    records the failed run in the warehouse (BigQuery: the client is built and asks for credentials)."""
    env = {**_runtime(stacks, stack, "job", "etl"), **NO_METADATA_SERVER}
    result = run(image_envs["etl"], env, tmp_path / "home")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert not [marker for marker in CONFIG_ERRORS if marker in output], output[-3000:]
    assert "B2BREC_TRAINER_IMAGE" not in output
    spec = stacks[stack].spec
    assert spec is not None
    (source,) = spec.sources
    assert f"source '{source}'" in output, output[-3000:]
    if spec.sources[source].kind.needs_server:  # a database host: its address (none resolves here) or password
        assert "does not resolve" in output or "secretmanager" in output, output[-3000:]
    else:  # a file in the upload area, which the GCP backend does not read yet
        assert "sqlite" in output, output[-3000:]
    assert "google/cloud/bigquery" in output and "DefaultCredentialsError" in output, output[-3000:]


def test_etl_job_of_a_file_source_reaches_the_warehouse(
    stacks: dict[str, Synthesized], image_envs: dict[str, ImageEnv], tmp_path: Path
) -> None:
    """demo-dev's source is a SQLite file in the client's upload area, which the GCP backend does not read
    (yet): the run fails its source check with that reason and records the failure in the warehouse."""
    env = {**_runtime(stacks, "demo-dev", "job", "etl"), **NO_METADATA_SERVER}
    result = run(image_envs["etl"], env, tmp_path / "home")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert not [marker for marker in CONFIG_ERRORS if marker in output], output[-3000:]
    assert "source 'erp'" in output and "sqlite" in output, output[-3000:]
    assert "google/cloud/bigquery" in output and "DefaultCredentialsError" in output


# --- the apps' workers (Cloud Run worker pools) -------------------------------------------------------------


def _broker_references(server: TlsRedis) -> dict[str, str]:
    """What the Memorystore instance's attributes resolve to: here a Memorystore-shaped local server."""
    return {
        **REFERENCES,
        ".host": server.host,
        ".port": str(server.port),
        ".server_ca_certs[*].cert)": server.ca_pem,
        # the rest of the apps' environment, in the form the attributes take at apply time
        "network_attachment_B7E4590F.id": "projects/p/regions/europe-west1/networkAttachments/b2brec-vertex",
        ".number": "123456789012",
        ".email": "trainer@client-nordhandel-gmbh-prod.iam.gserviceaccount.com",
        "_url": "europe-west1-docker.pkg.dev/client-nordhandel-gmbh-prod/b2brec",
    }


def _wait_for(server: Any, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.output():
        assert server.process.poll() is None, f"exited {server.process.returncode}:\n{server.output()[-4000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in {timeout:.0f}s:\n{server.output()[-4000:]}"
        time.sleep(0.3)


def _send(server: TlsRedis, task: str) -> None:
    """Queue ``task`` the way the web side does: the same broker settings, from b2brec.broker."""
    from celery import Celery

    settings = BrokerSettings(host=server.host, port=server.port, auth=SecretStr(server.password), ca=server.ca_pem)
    sender = Celery("contract-test", set_as_current=False)
    sender.conf.update(celery_broker(None, str, settings))
    try:
        sender.send_task(task)
    finally:
        sender.close()


@pytest.mark.parametrize(
    ("stack", "image", "task", "local"),
    [
        ("nordhandel-prod", "client-app-worker", "client_app.schedule_tick", {}),
        # the control plane builds its Flask app at start: its database and key as on a single machine
        # (Cloud SQL's IAM user and Secret Manager have no stand-in here)
        ("control-plane", "control-plane-worker", "control_plane.tick", {"B2BREC_CP_SECRET_KEY": "k" * 48}),
    ],
)
def test_worker_pool_consumes_from_a_memorystore_shaped_broker_with_the_stacks_env(
    stacks: dict[str, Synthesized],
    image_envs: dict[str, ImageEnv],
    start: Any,
    tls_redis: TlsRedis,
    tmp_path: Path,
    stack: str,
    image: str,
    task: str,
    local: dict[str, str],
) -> None:
    """The worker pool's command in its image's environment, with the stack's variables resolved (the
    instance's host, TLS port and server CA) and the AUTH string its secret holds: it connects over TLS
    with AUTH, verifies the server against the CA, and receives a task queued with the same settings."""
    contract = IMAGES[image]
    assert contract.runs_as is not None
    runtime = containers(stack, stacks[stack].data)[contract.runs_as]
    assert set(runtime.secret_env) == {AUTH_ENV}
    env = {**runtime.resolved_env(_broker_references(tls_redis)), AUTH_ENV: tls_redis.password, **NO_METADATA_SERVER}
    if stack == "control-plane":
        env["B2BREC_CP_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cp.sqlite'}"
    worker = start(image_envs[contract.dockerfile.removesuffix(".Dockerfile")], {**env, **local}, runtime.command)
    _wait_for(worker, "ready.")
    assert f"Connected to rediss://:**@127.0.0.1:{tls_redis.port}/0" in worker.output()
    _send(tls_redis, task)
    _wait_for(worker, f"Task {task}[")
    assert tls_redis.password not in worker.output(), "the AUTH string never reaches the log"


# --- the web apps (gunicorn: the image's ENTRYPOINT) ----------------------------------------------------------

WEB_APPS = [*[(stack, "client-app") for stack in CLIENT_STACKS], ("control-plane", "control-plane")]
DATABASE_ENV = {"client-app": "B2BREC_DATABASE_URL", "control-plane": "B2BREC_CP_DATABASE_URL"}
KEY_ENV = {"client-app": "B2BREC_APP_SECRET_KEY", "control-plane": "B2BREC_CP_SECRET_KEY"}
"""Where a single machine gives the app its key; on GCP the app reads (or creates) it in Secret Manager."""
MIGRATED_TABLE = {"client-app": "users", "control-plane": "operators"}


def _web_env(stacks: dict[str, Synthesized], stack: str, image: str, server: TlsRedis) -> dict[str, str]:
    """The web service's variables as the stack gives them (references resolved, the broker a Memorystore-shaped
    local server, the AUTH string its secret holds), and nothing else but Cloud Run's PORT."""
    contract = IMAGES[image]
    assert contract.runs_as is not None
    runtime = containers(stack, stacks[stack].data)[contract.runs_as]
    assert not runtime.args and not runtime.command, "the stack runs the image's own ENTRYPOINT"
    assert set(runtime.secret_env) == {AUTH_ENV}
    assert [sidecar["name"] for sidecar in runtime.sidecars] == ["cloud-sql-proxy"]
    return {
        **runtime.resolved_env(_broker_references(server)),
        AUTH_ENV: server.password,
        "PORT": str(free_port()),
        **NO_METADATA_SERVER,
    }


def _exited(server: Any, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while server.process.poll() is None:
        assert time.monotonic() < deadline, f"still running after {timeout:.0f}s:\n{server.output()[-4000:]}"
        time.sleep(0.3)
    return str(server.output())


@pytest.mark.slow
@pytest.mark.parametrize(("stack", "image"), WEB_APPS)
def test_web_app_starts_with_the_stacks_env_and_reaches_its_dependencies(
    stacks: dict[str, Synthesized],
    image_envs: dict[str, ImageEnv],
    start: Any,
    tls_redis: TlsRedis,
    stack: str,
    image: str,
) -> None:
    """gunicorn with the image's ENTRYPOINT and the stack's environment; the Cloud SQL Auth Proxy's address is a
    real PostgreSQL where the IAM user the stack names holds only what the stack grants it.

    1. Exactly as the stack gives it: past its settings (spec, database URL, broker), the app's first call
       is Secret Manager for its key, which has no emulator here and no credentials: it stops there.
    2. With the key given as a single machine gives it (the stand-in for Secret Manager): it migrates its
       schema as the IAM user, and /healthz answers 200."""
    image_env = image_envs[IMAGES[image].dockerfile.removesuffix(".Dockerfile")]
    env = _web_env(stacks, stack, image, tls_redis)
    user = unquote(urlsplit(env[DATABASE_ENV[image]]).username or "")
    assert user.endswith(".iam"), f"{image} logs in as its IAM database user, not {user!r}"
    with iam_database(user) as (login, database):
        env[DATABASE_ENV[image]] = local_database_url(env[DATABASE_ENV[image]], login, database)

        output = _exited(start(image_env, env))
        assert not [marker for marker in (*CONFIG_ERRORS, "ValidationError") if marker in output], output[-4000:]
        assert "google/cloud/secretmanager" in output and "DefaultCredentialsError" in output, output[-4000:]

        server = start(image_env, {**env, KEY_ENV[image]: uuid.uuid4().hex * 2})
        health = server.wait_http(f"http://127.0.0.1:{env['PORT']}/healthz", timeout=180)
        assert health.status_code == 200, f"{health.text}\n{server.output()[-3000:]}"
        assert table_owners(database, MIGRATED_TABLE[image]) == [login], "its schema, created as the IAM user"
        assert "Booting worker" in server.output() and tls_redis.password not in server.output()
        server.stop()
