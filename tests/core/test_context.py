"""One client context: exact, unambiguous names; lazy backends; the backend's answers behind one interface."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from b2brec.backends.jobs import MachineSpec
from b2brec.backends.warehouse import warehouse_from_uri
from b2brec.context import client_context, context_for_spec
from b2brec.errors import B2BRecError
from b2brec.projects.local import create_project
from b2brec.settings import Backend, Settings
from b2brec.spec import ClientSpec, load_environment, parse_spec
from tests.conftest import REPO_ROOT


def _variant(env: str) -> ClientSpec:
    """demo-dev's client in another environment: same client id, another project id."""
    data = yaml.safe_load((REPO_ROOT / "environments" / "demo-dev.yaml").read_text())
    data["env"] = env
    return parse_spec(data, origin="test")


def test_local_names_resolve_exactly_and_refuse_ambiguity(settings: Settings) -> None:
    dev = create_project(load_environment(settings.environments_dir, "demo-dev"), settings, environment="demo-dev")
    prod = create_project(_variant("prod"), settings)
    assert client_context("demo-dev", settings).project_id == dev.project_id  # environment file name
    assert client_context(prod.project_id, settings).project_id == prod.project_id  # project id
    assert client_context("demo-wholesale-prod", settings).project_id == prod.project_id  # {name}-{env}
    with pytest.raises(B2BRecError) as ambiguous:
        client_context("demo-wholesale", settings)  # the client id names both projects
    assert ambiguous.value.code == "client_ambiguous" and ambiguous.value.http_status == 409
    assert dev.project_id in ambiguous.value.message and prod.project_id in ambiguous.value.message
    with pytest.raises(B2BRecError) as unknown:
        client_context("demo-de", settings)  # a prefix is not a name
    assert unknown.value.code == "project_not_found" and dev.project_id in unknown.value.message
    with pytest.raises(B2BRecError) as blank:
        client_context("  ", settings)
    assert blank.value.code == "invalid_request"


def test_local_backends_answer_for_the_project(settings: Settings) -> None:
    project = create_project(load_environment(settings.environments_dir, "demo-dev"), settings, environment="demo-dev")
    ctx = client_context("demo-dev", settings)
    assert ctx.name == "demo-dev" and ctx.spec == project.spec and ctx.settings is settings
    backends = ctx.backends
    assert ctx.mlflow_uri == f"http://127.0.0.1:{project.ports['mlflow']}"
    assert backends.warehouse_uri == f"duckdb://{project.warehouse_path.resolve()}"
    assert backends.storage("models").url() == project.storage("models").url()
    assert backends.etl_state_dir == project.etl_dir
    assert backends.job_machine == MachineSpec()
    assert backends.service_port("serving") == project.ports["serving"]
    assert backends.service_url("serving") == f"http://127.0.0.1:{project.ports['serving']}"
    assert backends.upload_area == project.uploads_dir
    assert backends.app_database_url("client_app") == f"sqlite:///{project.db_dir / 'client_app.sqlite'}"
    assert backends.default_broker_url == f"sqla+sqlite:///{project.db_dir / 'celery-broker.sqlite'}"
    assert backends.logs_dir == project.logs_dir
    assert backends.warehouse.kind == "duckdb"
    assert warehouse_from_uri(backends.warehouse_uri).kind == "duckdb"
    assert backends.fail_closed is False
    assert backends.warehouse is backends.warehouse  # built once, then reused


def test_gcp_resolves_environment_files_and_builds_backends_lazily(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        environments_dir=REPO_ROOT / "environments",
        backend=Backend.GCP,
        vertex_machine_type="n1-highmem-8",
        vertex_accelerator_type="NVIDIA_TESLA_T4",
        vertex_accelerator_count=2,
    )
    ctx = client_context("demo-dev", settings)
    assert client_context(ctx.project_id, settings).spec == ctx.spec  # the project id names the same file
    with pytest.raises(B2BRecError) as unknown:
        client_context("nope-dev", settings)
    assert unknown.value.code == "client_not_found" and "demo-dev" in unknown.value.message
    backends = ctx.backends
    # Nothing needs the trainer image until jobs are asked for; then the missing settings are named.
    assert backends.warehouse_uri == f"bigquery://{ctx.project_id}/europe-west1"
    assert backends.storage("models").url() == f"gs://{ctx.spec.bucket('models')}"
    assert backends.job_machine == MachineSpec(
        machine_type="n1-highmem-8", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=2
    )
    assert backends.fail_closed is True and backends.local_project is None
    assert backends.service_port("serving") is None
    # what the stack configures on GCP (the app's Cloud SQL URL, the Memorystore broker, the serving URL)
    assert backends.service_url("serving") is None and backends.upload_area is None
    assert backends.app_database_url("client_app") is None and backends.default_broker_url is None
    assert backends.logs_dir == tmp_path / "logs"
    warehouse = warehouse_from_uri(backends.warehouse_uri)
    assert warehouse.kind == "bigquery" and warehouse.uri == backends.warehouse_uri
    with pytest.raises(B2BRecError, match="B2BREC_TRAINER_IMAGE") as jobs:
        backends.jobs  # noqa: B018  (the attribute access is what builds the runner)
    assert jobs.value.code == "invalid_settings"
    with pytest.raises(B2BRecError, match="B2BREC_MLFLOW_URI"):
        ctx.mlflow_uri  # noqa: B018
    with_mlflow = context_for_spec(ctx.spec, settings.model_copy(update={"mlflow_uri": "https://mlflow.example"}))
    assert with_mlflow.mlflow_uri == "https://mlflow.example"


def test_gcp_refuses_a_client_id_two_environments_share(tmp_path: Path) -> None:
    envs = tmp_path / "environments"
    envs.mkdir()
    source = (REPO_ROOT / "environments" / "demo-dev.yaml").read_text()
    (envs / "demo-dev.yaml").write_text(source)
    (envs / "demo-prod.yaml").write_text(source.replace("env: dev", "env: prod"))
    settings = Settings(home=tmp_path, environments_dir=envs, backend=Backend.GCP)
    assert client_context("demo-prod", settings).spec.env == "prod"
    with pytest.raises(B2BRecError) as ambiguous:
        client_context("demo-wholesale", settings)
    assert ambiguous.value.code == "client_ambiguous" and "demo-dev, demo-prod" in ambiguous.value.message


def test_a_warehouse_uri_that_names_no_warehouse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(B2BRecError) as missing:
        warehouse_from_uri(f"duckdb://{tmp_path / 'nope.duckdb'}")
    assert missing.value.code == "not_found" and "run the ETL" in (missing.value.fix or "")
    with pytest.raises(B2BRecError) as bad:
        warehouse_from_uri("postgres://db/x")
    assert bad.value.code == "invalid_request"
