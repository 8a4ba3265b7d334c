"""``b2brec client``: create, list, show, upgrade and delete client projects (through the local
provisioner: a project folder plus its services on local ports)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from b2brec.errors import B2BRecError
from b2brec.projects.local import list_projects, open_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from cli.common import console, load_settings, user_errors

app = typer.Typer(help="Client projects (local folders and services on the embedded default).", no_args_is_help=True)


def _provisioner(settings: Settings, *, services: bool = True) -> Any:
    from provisioning.local import LocalProvisioner

    return LocalProvisioner(settings, services=None if services else [])


def _ports(values: list[str]) -> dict[str, int] | None:
    ports: dict[str, int] = {}
    for value in values:
        name, _, port = value.partition("=")
        if not port.isdigit():
            raise B2BRecError(f"--port {value!r}: write NAME=PORT, e.g. --port serving=18101", code="invalid_ports")
        ports[name] = int(port)
    return ports or None


def _print_services(services: dict[str, Any]) -> None:
    table = Table("service", "url", "healthy", "detail")
    for state in services.values():
        healthy = "[green]yes[/green]" if state.healthy else "[red]no[/red]"
        table.add_row(state.name, state.url or "", healthy, state.detail[:100])
    if services:
        console.print(table)


@app.command("create")
@user_errors
def create(
    env: str = typer.Option(..., "--env", help="Environment file name in environments/, e.g. demo-dev."),
    template: str | None = typer.Option(None, "--template", help="Template version; default: newest released."),
    no_services: bool = typer.Option(False, "--no-services", help="Create the folder only; start no service."),
    port: list[str] = typer.Option([], "--port", help="Port of a service, NAME=PORT (repeatable)."),
) -> None:
    """Create (or refresh) the client project of an environment and start its services."""
    from provisioning.templates import default_version

    settings = load_settings()
    spec = load_environment(settings.environments_dir, env)
    provisioner = _provisioner(settings, services=not no_services)
    version = template or default_version(provisioner.registry)
    with console.status(f"provisioning {spec.project_id} on template {version}…"):
        result = provisioner.create(spec, version, environment=env, ports=_ports(port))
    project = open_project(result.project_id, settings)
    state = "created" if result.created else "updated"
    console.print(f"[green]client project {state}:[/green] {project.project_id} (template {version})")
    console.print_json(json.dumps(project.describe()))
    _print_services(result.services)
    if result.services:
        console.print(f"its services keep running; stop them with: b2brec client stop {env}")
    if not result.healthy:
        raise B2BRecError(
            f"{project.project_id} was provisioned but not every service is healthy; see {project.logs_dir}",
            code="provision_unhealthy",
        )


@app.command("apply")
@user_errors
def apply(
    client: str = typer.Argument(..., help="Project id, client id or environment name."),
    template: str = typer.Option(..., "--template", help="Template version to move the client to."),
) -> None:
    """Move a client project to another template version (restarts what changed, checks health)."""
    settings = load_settings()
    spec = open_project(client, settings).spec
    with console.status(f"applying template {template} to {spec.project_id}…"):
        result = _provisioner(settings).apply_version(spec, template)
    console.print(f"{result.project_id}: template {result.from_version} → {result.to_version}")
    console.print_json(json.dumps({"changes": result.changes, "restarted": result.restarted}))
    _print_services(result.services)
    if not result.healthy:
        raise B2BRecError(
            f"template {template} is applied but unhealthy ({', '.join(result.failed_services())}); "
            f"apply the previous version ({result.from_version}) to roll back",
            code="provision_unhealthy",
        )


@app.command("stop")
@user_errors
def stop(client: str = typer.Argument(..., help="Project id, client id or environment name.")) -> None:
    """Stop a client project's services (its data stays)."""
    settings = load_settings()
    stopped = _provisioner(settings).stop_services(open_project(client, settings).spec)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command("list")
@user_errors
def list_() -> None:
    """List local client projects."""
    from provisioning.local import read_template

    settings = load_settings()
    table = Table("project id", "client id", "env", "template", "root")
    for project in list_projects(settings):
        spec = project.spec
        record = read_template(project) or {}
        version = record.get("version") or spec.template_version
        table.add_row(project.project_id, spec.client_id, spec.env, version, str(project.root))
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
    """Stop a local client project's services and delete it with all its data."""
    if not yes:
        typer.confirm(f"Delete {client} and all its data?", abort=True)
    settings = load_settings()
    _provisioner(settings).delete(open_project(client, settings).spec)
    console.print(f"deleted {client}")
