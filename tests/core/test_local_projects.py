"""Local client projects: isolated folders, idempotent creation, listing, and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from b2brec.projects.local import ProjectNotFound, create_project, delete_project, list_projects, open_project
from b2brec.settings import Settings
from b2brec.spec import load_environment, parse_spec
from cli.main import app
from tests.conftest import REPO_ROOT


def _second_client(settings: Settings):
    data = yaml.safe_load((REPO_ROOT / "environments" / "demo-dev.yaml").read_text())
    data.update(client_id="other-client", name="Other Client")
    return parse_spec(data, origin="test")


def test_two_clients_share_nothing(settings: Settings) -> None:
    first = create_project(load_environment(settings.environments_dir, "demo-dev"), settings)
    second = create_project(_second_client(settings), settings)
    assert first.root != second.root and not first.root.is_relative_to(second.root)
    assert first.warehouse_path != second.warehouse_path
    assert set(first.ports.values()).isdisjoint(second.ports.values())
    first.secrets().put("erp-password", "one")
    assert not second.secrets().exists("erp-password")
    assert first.bucket_path("models").name == "client-demo-wholesale-dev-models"
    assert first.warehouse().table_exists("raw_data", "transactions") is False
    with first.warehouse().connect() as conn:
        schemas = {r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
    assert {"raw_data", "features", "ml_datasets", "predictions"} <= schemas
    assert [p.project_id for p in list_projects(settings)] == ["client-demo-wholesale-dev", "client-other-client-dev"]


def test_create_is_idempotent_and_keeps_data(settings: Settings) -> None:
    spec = load_environment(settings.environments_dir, "demo-dev")
    project = create_project(spec, settings)
    project.warehouse().execute("CREATE TABLE raw_data.keep AS SELECT 1 AS x")
    again = create_project(spec, settings)
    assert again.ports == project.ports and again.created_at == project.created_at
    assert again.warehouse().query("SELECT x FROM raw_data.keep").to_pylist() == [{"x": 1}]
    assert open_project("demo-wholesale", settings).project_id == project.project_id
    delete_project("client-demo-wholesale-dev", settings)
    with pytest.raises(ProjectNotFound, match="no local client project"):
        open_project("demo-wholesale", settings)


def test_cli_create_show_and_clear_errors(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"B2BREC_HOME": str(settings.home), "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir)}
    result = runner.invoke(app, ["client", "create", "--env", "demo-dev", "--no-services"], env=env)
    assert result.exit_code == 0, result.output
    assert "client-demo-wholesale-dev" in result.output
    result = runner.invoke(app, ["client", "list"], env=env)
    assert "demo-wholesale" in result.output
    result = runner.invoke(app, ["client", "show", "demo-dev"], env=env)  # the environment file's name
    assert result.exit_code == 0 and '"environment": "demo-dev"' in result.output
    assert open_project("demo-dev", settings).project_id == "client-demo-wholesale-dev"
    result = runner.invoke(app, ["client", "create", "--env", "missing"], env=env)
    assert result.exit_code == 2
    assert "environment 'missing' not found" in result.output
    result = runner.invoke(app, ["client", "show", "nobody"], env=env)
    assert result.exit_code == 2 and "no local client project 'nobody'" in result.output
