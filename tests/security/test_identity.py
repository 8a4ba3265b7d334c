"""Issue 10, case 1: one identity maps to one project, checked on create, lookup and synth.

Real environment files, real local projects, the real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from b2brec.projects.local import ProjectAmbiguous, ProjectNotFound, create_project, open_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from b2brec.spec.identity import IdentityCollision, check_environments
from cli.main import app
from stacks.synth import resolve_targets
from tests.conftest import REPO_ROOT

runner = CliRunner()


def write_env(folder: Path, file: str, client_id: str, name: str) -> Path:
    data = yaml.safe_load((REPO_ROOT / "environments" / "demo-dev.yaml").read_text())
    data.update(client_id=client_id, name=name)
    path = folder / f"{file}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def envs(tmp_path: Path) -> Path:
    folder = tmp_path / "environments"
    folder.mkdir()
    write_env(folder, "acme-dev", "acme-001", "Acme")
    return folder


def settings_for(tmp_path: Path, envs: Path) -> Settings:
    return Settings(home=tmp_path / "home", environments_dir=envs)


def cli(settings: Settings, *args: str, input: str | None = None) -> tuple[int, str]:
    env = {
        "B2BREC_HOME": str(settings.home),
        "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir),
        "COLUMNS": "400",
    }
    result = runner.invoke(app, list(args), env=env, input=input)
    return result.exit_code, " ".join(result.output.split())


def test_same_display_name_with_another_client_id_cannot_take_over_the_project(tmp_path: Path, envs: Path) -> None:
    settings = settings_for(tmp_path, envs)
    write_env(envs, "impostor-dev", "impostor-9", "Acme")  # same name and env: same project id
    assert cli(settings, "client", "create", "--env", "acme-dev", "--no-services")[0] == 0
    assert cli(settings, "secrets", "set", "erp-password", "--client", "acme-001", "--stdin", input="acme-pw")[0] == 0

    code, output = cli(settings, "client", "create", "--env", "impostor-dev", "--no-services")
    assert code == 2
    assert "identity_collision" in output
    assert "acme-dev.yaml" in output and "impostor-dev.yaml" in output  # names both files
    project = open_project("client-acme-dev", settings)
    assert project.spec.client_id == "acme-001"  # unchanged: the first client keeps its project
    assert project.secrets().get("erp-password") == "acme-pw"


def test_a_client_id_equal_to_another_project_id_is_refused(tmp_path: Path, envs: Path) -> None:
    settings = settings_for(tmp_path, envs)
    write_env(envs, "squatter-dev", "client-acme-dev", "Squatter")  # client_id = acme's project id
    assert cli(settings, "client", "create", "--env", "acme-dev", "--no-services")[0] == 0
    code, output = cli(settings, "client", "create", "--env", "squatter-dev", "--no-services")
    assert code == 2 and "acme-dev.yaml" in output and "squatter-dev.yaml" in output
    # and in the other order (the squatter first): the real client is refused, nobody is captured
    other = Settings(home=tmp_path / "home2", environments_dir=envs)
    assert cli(other, "client", "create", "--env", "squatter-dev", "--no-services")[0] == 0
    assert cli(other, "client", "create", "--env", "acme-dev", "--no-services")[0] == 2
    code, output = cli(other, "secrets", "set", "erp-password", "--client", "client-acme-dev", "--stdin", input="x")
    assert code == 0 and "client-squatter-dev" in output  # the exact name it really is, nothing else


def test_lookups_are_exact_and_refuse_ambiguity(tmp_path: Path, envs: Path) -> None:
    """Projects made before the check existed could still answer to one name: lookups refuse them."""
    settings = settings_for(tmp_path, envs)
    acme = create_project(load_environment(envs, "acme-dev"), settings, environment="acme-dev")
    write_env(envs, "other-dev", "other-002", "Other")
    other = create_project(load_environment(envs, "other-dev"), settings, environment="other-dev")
    payload = json.loads((other.root / "project.json").read_text())
    payload["spec"]["client_id"] = acme.project_id  # the collision an old version let through
    (other.root / "project.json").write_text(json.dumps(payload))
    # The project id is canonical and unique: it finds acme, never the squatter.
    assert open_project(acme.project_id, settings).spec.client_id == "acme-001"
    payload["spec"]["client_id"] = "acme-001"  # two projects answering to one client id
    (other.root / "project.json").write_text(json.dumps(payload))
    with pytest.raises(ProjectAmbiguous) as raised:
        open_project("acme-001", settings)
    assert "acme-dev.yaml" in str(raised.value) and "other-dev.yaml" in str(raised.value)
    with pytest.raises(ProjectNotFound):  # a prefix or a near-miss never matches
        open_project("client-acme", settings)


def test_synth_refuses_colliding_environment_files(tmp_path: Path, envs: Path) -> None:
    write_env(envs, "twin-dev", "twin-003", "Acme")
    with pytest.raises(IdentityCollision) as raised:
        check_environments(envs)
    assert "acme-dev.yaml" in str(raised.value) and "twin-dev.yaml" in str(raised.value)
    with pytest.raises(IdentityCollision):
        resolve_targets(envs, names=["acme-dev"])


def test_the_repository_environments_do_not_collide() -> None:
    check_environments(REPO_ROOT / "environments")


def test_recreating_the_same_environment_is_still_idempotent(tmp_path: Path, envs: Path) -> None:
    settings = settings_for(tmp_path, envs)
    first = create_project(load_environment(envs, "acme-dev"), settings, environment="acme-dev")
    again = create_project(load_environment(envs, "acme-dev"), settings, environment="acme-dev")
    assert (first.root, first.ports) == (again.root, again.ports)


def test_one_clients_environments_coexist_and_renaming_is_refused(tmp_path: Path, envs: Path) -> None:
    """dev and prod of one client are two projects (allowed); the same client and env under a new
    display name would be a second project for it (refused)."""
    settings = settings_for(tmp_path, envs)
    data = yaml.safe_load((envs / "acme-dev.yaml").read_text())
    (envs / "acme-prod.yaml").write_text(yaml.safe_dump({**data, "env": "prod"}))
    (envs / "acme-renamed.yaml").write_text(yaml.safe_dump({**data, "name": "Acme Renamed"}))
    create_project(load_environment(envs, "acme-dev"), settings, environment="acme-dev")
    create_project(load_environment(envs, "acme-prod"), settings, environment="acme-prod")
    with pytest.raises(ProjectAmbiguous):
        open_project("acme-001", settings)  # the client id names both: refused, not guessed
    with pytest.raises(IdentityCollision) as raised:
        create_project(load_environment(envs, "acme-renamed"), settings, environment="acme-renamed")
    assert "acme-dev.yaml" in str(raised.value) and "acme-renamed.yaml" in str(raised.value)
