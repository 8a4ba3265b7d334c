"""``b2brec client``: create, list, show and delete local client projects."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from b2brec.projects.local import create_project, delete_project, list_projects, open_project
from b2brec.spec import load_environment
from cli.common import console, load_settings, user_errors

app = typer.Typer(help="Client projects (local folders on the embedded default).", no_args_is_help=True)


@app.command("create")
@user_errors
def create(
    env: str = typer.Option(..., "--env", help="Environment file name in environments/, e.g. demo-dev."),
) -> None:
    """Create (or refresh) the local client project of an environment."""
    settings = load_settings()
    spec = load_environment(settings.environments_dir, env)
    project = create_project(spec, settings, environment=env)
    console.print(f"[green]client project ready:[/green] {project.project_id}")
    console.print_json(json.dumps(project.describe()))


@app.command("list")
@user_errors
def list_() -> None:
    """List local client projects."""
    settings = load_settings()
    table = Table("project id", "client id", "env", "template", "root")
    for project in list_projects(settings):
        spec = project.spec
        table.add_row(project.project_id, spec.client_id, spec.env, spec.template_version, str(project.root))
    console.print(table)


@app.command("show")
@user_errors
def show(client: str = typer.Argument(..., help="Project id, client id or environment name.")) -> None:
    """Show where a client's warehouse, buckets and services live."""
    console.print_json(json.dumps(open_project(client, load_settings()).describe()))


@app.command("delete")
@user_errors
def delete(
    client: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete a local client project and all its data."""
    if not yes:
        typer.confirm(f"Delete {client} and all its data?", abort=True)
    delete_project(client, load_settings())
    console.print(f"deleted {client}")
