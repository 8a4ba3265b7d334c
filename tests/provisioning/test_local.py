"""The local provisioner with real processes: a client project is created with its services on
its own ports, a template version changes what they run (and says what changed), re-applying is a
no-op, a broken version is detected by its health check and rolling back heals it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from b2brec.backends.storage import ObjectStore
from b2brec.bundle import write_bundle
from b2brec.live import set_live_version
from b2brec.processes import alive
from b2brec.projects.local import open_project
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, load_environment
from cli.main import app
from provisioning.local import LocalProvisioner, read_template
from provisioning.local_services import MlflowService, ServingService
from provisioning.templates import TemplateError, TemplateRegistry, current_source
from serving.synthetic import synthetic_bundle
from tests.serving.conftest import free_port

pytestmark = pytest.mark.slow

BROKEN = {"serving": {"B2BREC_SERVING_COMPUTE_THREADS": "0"}}  # fails validation: serving exits at start


@pytest.fixture
def registry(tmp_path: Path) -> TemplateRegistry:
    registry = TemplateRegistry(ObjectStore((tmp_path / "templates").as_uri()))
    registry.add("1.0.0", notes="baseline")
    registry.add("1.1.0", notes="one thread", runtime={"serving": {"B2BREC_SERVING_COMPUTE_THREADS": "1"}})
    registry.add("1.2.0", notes="broken on purpose", runtime=BROKEN)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        registry.release(version)
    return registry


@pytest.fixture
def spec(settings: Settings) -> ClientSpec:
    return load_environment(settings.environments_dir, "demo-dev")


def _ports() -> dict[str, int]:
    return {"serving": free_port(), "mlflow": free_port(), "client_app": free_port()}


def _serving_pid(settings: Settings, spec: ClientSpec) -> int | None:
    return ServingService().pid(open_project(spec.project_id, settings))


def test_create_apply_detect_broken_and_roll_back(
    settings: Settings, spec: ClientSpec, registry: TemplateRegistry
) -> None:
    provisioner = LocalProvisioner(settings, registry=registry, services=[ServingService()], health_timeout=60)
    created = provisioner.create(spec, "1.0.0", environment="demo-dev", ports=_ports())
    try:
        assert created.created and created.healthy and created.template_version == "1.0.0"
        project = open_project("demo-dev", settings)
        assert created.urls["serving"] == f"http://127.0.0.1:{project.ports['serving']}"
        live = httpx.get(f"{created.urls['serving']}/health/live", timeout=5)
        assert live.status_code == 200  # a real serving process, up before any model exists
        assert project.spec.template_version == "1.0.0" and read_template(project)["version"] == "1.0.0"
        assert read_template(project)["source"] == current_source().digest  # the stacks code 1.0.0 was made of
        first_pid = _serving_pid(settings, spec)

        again = provisioner.create(spec, "1.0.0")  # a resumed onboarding: nothing restarts
        assert not again.created and again.healthy and _serving_pid(settings, spec) == first_pid
        same = provisioner.apply_version(spec, "1.0.0")
        assert same.unchanged and same.restarted == [] and same.healthy
        assert _serving_pid(settings, spec) == first_pid  # idempotent: nothing restarted

        upgraded = provisioner.apply_version(spec, "1.1.0")
        assert upgraded.from_version == "1.0.0" and upgraded.to_version == "1.1.0"
        assert upgraded.changes == {
            "runtime": {"serving": {"B2BREC_SERVING_COMPUTE_THREADS": {"from": None, "to": "1"}}}
        }
        assert upgraded.restarted == ["serving"] and upgraded.healthy
        assert _serving_pid(settings, spec) != first_pid and first_pid is not None and not alive(first_pid)

        broken = provisioner.apply_version(spec, "1.2.0")
        assert not broken.healthy and broken.failed_services() == ["serving"]
        assert "compute_threads" in broken.services["serving"].detail.lower()  # the reason, from its log
        assert provisioner.status(spec).template_version == "1.2.0" and not provisioner.status(spec).healthy

        healed = provisioner.apply_version(spec, "1.1.0")  # what a canary rollback does
        assert healed.healthy and healed.restarted == ["serving"]
        record = read_template(open_project("demo-dev", settings))
        history = [(h["from"], h["to"], h["healthy"]) for h in record["history"]]
        assert history == [
            (None, "1.0.0", True),
            ("1.0.0", "1.1.0", True),
            ("1.1.0", "1.2.0", False),
            ("1.2.0", "1.1.0", True),
        ]
        registry.retire("1.0.0")
        with pytest.raises(TemplateError, match="retired"):
            provisioner.apply_version(spec, "1.0.0")
    finally:
        pid = _serving_pid(settings, spec)
        provisioner.delete(spec)
    assert pid is None or not alive(pid)
    assert not provisioner.status(spec).exists


def test_mlflow_and_serving_run_and_serving_follows_a_model(
    settings: Settings, spec: ClientSpec, registry: TemplateRegistry
) -> None:
    provisioner = LocalProvisioner(settings, registry=registry, health_timeout=120)
    result = provisioner.create(spec, "1.1.0", ports=_ports())
    try:
        assert result.healthy, result.services
        assert set(result.services) == {"mlflow", "serving"}
        assert httpx.get(f"{result.urls['mlflow']}/health", timeout=5).status_code == 200
        project = open_project(spec.project_id, settings)
        assert MlflowService().pid(project) is not None
        # a model trained later is picked up by the running service (it follows the live version)
        write_bundle(project.storage("models"), synthetic_bundle("20260101-000000", n_products=50, n_customers=5))
        set_live_version(project.storage("models"), "20260101-000000", actor="test")
        deadline = time.monotonic() + 30
        while httpx.get(f"{result.urls['serving']}/health", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "serving never loaded the deployed model"
            time.sleep(0.3)
        assert provisioner.stop_services(spec) == ["mlflow", "serving"]
        assert not provisioner.status(spec).healthy
    finally:
        provisioner.delete(spec)


def test_client_create_cli_goes_through_the_provisioner(settings: Settings) -> None:
    env = {"B2BREC_HOME": str(settings.home), "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir)}
    runner = CliRunner()
    ports = [f"--port={name}={port}" for name, port in _ports().items()]
    result = runner.invoke(app, ["client", "create", "--env", "demo-dev", "--no-services", *ports], env=env)
    assert result.exit_code == 0, result.output
    assert "template 1.0.0" in result.output  # a fresh platform publishes its baseline first
    project = open_project("demo-dev", settings)
    assert read_template(project)["version"] == "1.0.0"
    listed = runner.invoke(app, ["client", "list"], env=env, terminal_width=200)
    assert "1.0.0" in listed.output
    missing = runner.invoke(app, ["client", "apply", "demo-dev", "--template", "7.0.0"], env=env)
    assert missing.exit_code == 2 and "no template version '7.0.0'" in missing.output
    bad = runner.invoke(app, ["client", "create", "--env", "demo-dev", "--port", "serving=80"], env=env)
    assert bad.exit_code == 2 and "1024-65535" in bad.output
    assert os.path.isdir(project.root)
