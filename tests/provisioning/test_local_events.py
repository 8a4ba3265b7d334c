"""The local provisioner reports each step as a progress event (the type the ETL and the pipeline use):
the project, each service stopped, started and healthy (or not, with why), the template recorded. The
service here is a real process (a static file server on the project's port), so these run in seconds;
``b2brec client create`` renders the same events."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from b2brec.backends.storage import ObjectStore
from b2brec.processes import alive
from b2brec.progress import ProgressEvent
from b2brec.projects.local import LocalClientProject, open_project
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, load_environment
from cli.main import app
from provisioning.local import LocalProvisioner
from provisioning.local_services import ProcessService
from provisioning.templates import TemplateRegistry
from tests.serving.conftest import free_port


class FileServer(ProcessService):
    """A real process on the project's client_app port: python's static file server."""

    name = "client_app"
    health_path = "/"

    def command(self, project: LocalClientProject) -> list[str]:
        port = str(project.ports[self.name])
        return [sys.executable, "-m", "http.server", port, "--bind", "127.0.0.1", "--directory", str(project.root)]


class ExitsAtStart(FileServer):
    def command(self, project: LocalClientProject) -> list[str]:
        return [sys.executable, "-c", "import sys; print('no config for this client'); sys.exit(3)"]


@pytest.fixture
def registry(tmp_path: Path) -> TemplateRegistry:
    registry = TemplateRegistry(ObjectStore((tmp_path / "templates").as_uri()))
    registry.add("1.0.0", notes="baseline")
    registry.add("1.1.0", notes="a runtime setting", runtime={"client_app": {"B2BREC_TEST_FLAG": "1"}})
    for version in ("1.0.0", "1.1.0"):
        registry.release(version)
    return registry


@pytest.fixture
def spec(settings: Settings) -> ClientSpec:
    return load_environment(settings.environments_dir, "demo-dev")


def _steps(events: list[ProgressEvent]) -> list[tuple[str, str, str]]:
    return [(e.stage, e.kind, e.data.get("service", "")) for e in events]


def test_create_apply_delete_report_their_steps(
    settings: Settings, spec: ClientSpec, registry: TemplateRegistry
) -> None:
    provisioner = LocalProvisioner(settings, registry=registry, services=[FileServer()], health_timeout=20)
    events: list[ProgressEvent] = []
    ports = {"client_app": free_port(), "serving": free_port(), "mlflow": free_port()}
    created = provisioner.create(spec, "1.0.0", environment="demo-dev", ports=ports, on_event=events.append)
    try:
        assert created.healthy
        assert _steps(events) == [
            ("project", "start", ""),
            ("project", "done", ""),
            ("start", "start", "client_app"),
            ("start", "done", "client_app"),
            ("health", "start", "client_app"),
            ("health", "done", "client_app"),
            ("template", "done", ""),
        ]
        project = open_project(spec.project_id, settings)
        assert events[1].data == {"project_id": spec.project_id, "created": True, "root": str(project.root)}
        assert events[5].data["url"] == f"http://127.0.0.1:{ports['client_app']}"
        assert (events[-1].data["from_version"], events[-1].data["to_version"]) == (None, "1.0.0")
        pid = FileServer().pid(project)

        events.clear()
        provisioner.apply_version(spec, "1.0.0", on_event=events.append)  # nothing to do: said so
        assert _steps(events) == [("health", "done", "client_app"), ("template", "done", "")]
        assert events[0].data["restarted"] is False and "left running" in events[0].message

        events.clear()
        moved = provisioner.apply_version(spec, "1.1.0", on_event=events.append)
        assert moved.restarted == ["client_app"]
        assert _steps(events) == [
            ("stop", "done", "client_app"),
            ("start", "start", "client_app"),
            ("start", "done", "client_app"),
            ("health", "start", "client_app"),
            ("health", "done", "client_app"),
            ("template", "done", ""),
        ]
        assert events[-1].message == f"{spec.project_id} runs template 1.0.0 → 1.1.0"
        assert pid is not None and not alive(pid)
    finally:
        events.clear()
        provisioner.delete(spec, on_event=events.append)
    assert _steps(events) == [("stop", "done", "client_app"), ("project", "start", ""), ("project", "done", "")]
    assert events[-1].data == {"deleted": True}


def test_a_service_that_dies_at_start_is_an_error_event_with_its_log(
    settings: Settings, spec: ClientSpec, registry: TemplateRegistry
) -> None:
    provisioner = LocalProvisioner(settings, registry=registry, services=[ExitsAtStart()], health_timeout=20)
    events: list[ProgressEvent] = []
    ports = {"client_app": free_port(), "serving": free_port(), "mlflow": free_port()}
    try:
        result = provisioner.create(spec, "1.0.0", ports=ports, on_event=events.append)
        assert not result.healthy
        (failed,) = [e for e in events if e.kind == "error"]
        assert (failed.stage, failed.data["service"], failed.data["code"]) == (
            "health",
            "client_app",
            "provision_unhealthy",
        )
        assert "no config for this client" in failed.data["detail"] and failed.message.startswith(
            "client_app not healthy"
        )
    finally:
        provisioner.delete(spec)


def test_client_create_renders_the_provisioner_progress(settings: Settings) -> None:
    env = {"B2BREC_HOME": str(settings.home), "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir)}
    ports = [f"--port={name}={free_port()}" for name in ("client_app", "serving", "mlflow")]
    runner = CliRunner()
    result = runner.invoke(
        app, ["client", "create", "--env", "demo-dev", "--no-services", *ports], env=env, terminal_width=400
    )
    assert result.exit_code == 0, result.output
    project = open_project("demo-dev", settings)
    assert f"✓ created project {project.project_id} in {project.root}" in result.output
    assert f"✓ {project.project_id} runs template 1.0.0" in result.output
    deleted = runner.invoke(app, ["client", "delete", "demo-dev", "--yes"], env=env, terminal_width=400)
    assert deleted.exit_code == 0 and f"✓ deleted project {project.project_id}" in deleted.output


@pytest.mark.parametrize(
    "argv",
    [
        ["client", "create", "--env", "demo-dev", "--port", "serving=18101"],
        ["client", "create", "--env", "demo-dev", "--no-services"],
        ["client", "stop", "demo-dev"],
        ["client", "list"],
    ],
)
def test_local_only_options_are_refused_on_gcp(settings: Settings, argv: list[str]) -> None:
    env = {
        "B2BREC_HOME": str(settings.home),
        "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir),
        "B2BREC_BACKEND": "gcp",
    }
    result = CliRunner().invoke(app, argv, env=env, terminal_width=200)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())  # rich wraps the error line
    assert "error (local_only)" in said and "applies to local client projects only" in said
    assert not (settings.home / "projects").exists()  # nothing was created or looked up
