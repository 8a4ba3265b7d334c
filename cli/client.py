"""``b2brec client``: create, list, show, upgrade and delete client projects through the platform's
provisioner (``provisioning.factory.provisioner_for``): a local project folder plus its services on
local ports on the embedded default, ``terraform apply`` of the client's stack on Google Cloud. Each
operation's progress events are rendered live (``cli.render_provision``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from b2brec.backends.factory import find_client_spec, provisions_with_terraform
from b2brec.errors import B2BRecError
from b2brec.projects.local import list_projects, open_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from cli.common import console, load_settings, user_errors
from cli.render_provision import ProvisionProgressView
from provisioning.base import Provisioner

app = typer.Typer(help="Client projects: create, upgrade, delete (local folders or GCP stacks).", no_args_is_help=True)

TERRAFORM = typer.Option(None, "--terraform", help="Path of the terraform binary on GCP (default: PATH).")
STACKS_DIR = typer.Option(
    None, "--stacks-dir", help="Where client stacks are synthesized on GCP (default: $B2BREC_HOME/stacks)."
)


def _local_only(settings: Settings, what: str) -> None:
    """Refuse an option or command that only means something for local client projects on GCP."""
    if provisions_with_terraform(settings):
        raise B2BRecError(
            f"{what} applies to local client projects only; this platform provisions with Terraform "
            f"(B2BREC_BACKEND={settings.backend.value})",
            code="local_only",
        )


def _provisioner(
    settings: Settings,
    *,
    services: bool = True,
    terraform: str | None = None,
    stacks_dir: Path | None = None,
) -> Provisioner:
    from provisioning.factory import provisioner_for
    from provisioning.templates import registry_for

    return provisioner_for(
        settings,
        registry=registry_for(settings),
        stacks_dir=stacks_dir or settings.home / "stacks",
        terraform=terraform,
        services=None if services else [],
    )


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
    no_services: bool = typer.Option(False, "--no-services", help="Local: create the folder only; start no service."),
    port: list[str] = typer.Option([], "--port", help="Local: port of a service, NAME=PORT (repeatable)."),
    terraform: str | None = TERRAFORM,
    stacks_dir: Path | None = STACKS_DIR,
) -> None:
    """Create (or refresh) the client project of an environment and start its services."""
    from provisioning.local import LocalProvisioner
    from provisioning.templates import default_version, registry_for

    settings = load_settings()
    if port:
        _local_only(settings, "--port")
    if no_services:
        _local_only(settings, "--no-services")
    spec = load_environment(settings.environments_dir, env)
    ports = _ports(port)
    provisioner = _provisioner(settings, services=not no_services, terraform=terraform, stacks_dir=stacks_dir)
    version = template or default_version(registry_for(settings))
    with ProvisionProgressView(console, f"provisioning {spec.project_id} on template {version}") as view:
        if isinstance(provisioner, LocalProvisioner):
            result = provisioner.create(spec, version, environment=env, ports=ports, on_event=view)
        else:
            result = provisioner.create(spec, version, on_event=view)
    state = "created" if result.created else "updated"
    console.print(f"[green]client project {state}:[/green] {result.project_id} (template {version})")
    if isinstance(provisioner, LocalProvisioner):
        project = open_project(result.project_id, settings)
        console.print_json(json.dumps(project.describe()))
        where = str(project.logs_dir)
    else:
        console.print_json(json.dumps({"urls": result.urls, "log": result.log}))
        where = str(result.log)
    _print_services(result.services)
    if result.services and isinstance(provisioner, LocalProvisioner):
        console.print(f"its services keep running; stop them with: b2brec client stop {env}")
    if not result.healthy:
        raise B2BRecError(
            f"{result.project_id} was provisioned but not every service is healthy; see {where}",
            code="provision_unhealthy",
        )


@app.command("apply")
@user_errors
def apply(
    client: str = typer.Argument(..., help="Project id, client id or environment name."),
    template: str = typer.Option(..., "--template", help="Template version to move the client to."),
    terraform: str | None = TERRAFORM,
    stacks_dir: Path | None = STACKS_DIR,
) -> None:
    """Move a client project to another template version (restarts what changed, checks health)."""
    settings = load_settings()
    spec = find_client_spec(client, settings)
    provisioner = _provisioner(settings, terraform=terraform, stacks_dir=stacks_dir)
    with ProvisionProgressView(console, f"applying template {template} to {spec.project_id}") as view:
        result = provisioner.apply_version(spec, template, on_event=view)
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
    """Stop a local client project's services (its data stays)."""
    from provisioning.local import LocalProvisioner

    settings = load_settings()
    _local_only(settings, "`b2brec client stop`")
    provisioner = LocalProvisioner(settings)
    with ProvisionProgressView(console, f"stopping the services of {client}") as view:
        stopped = provisioner.stop_services(open_project(client, settings).spec, on_event=view)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command("list")
@user_errors
def list_() -> None:
    """List local client projects."""
    from provisioning.local import read_template

    settings = load_settings()
    _local_only(settings, "`b2brec client list` (local projects)")
    table = Table("project id", "client id", "env", "template", "root")
    for project in list_projects(settings):
        spec = project.spec
        record = read_template(project) or {}
        version = record.get("version") or spec.template_version
        table.add_row(project.project_id, spec.client_id, spec.env, version, str(project.root))
    console.print(table)


@app.command("show")
@user_errors
def show(
    client: str = typer.Argument(..., help="Project id, client id or environment name."),
    terraform: str | None = TERRAFORM,
    stacks_dir: Path | None = STACKS_DIR,
) -> None:
    """Show where a client's warehouse, buckets and services live (on GCP: its stack's outputs)."""
    settings = load_settings()
    if not provisions_with_terraform(settings):
        console.print_json(json.dumps(open_project(client, settings).describe()))
        return
    status = _provisioner(settings, terraform=terraform, stacks_dir=stacks_dir).status(
        find_client_spec(client, settings)
    )
    console.print_json(
        json.dumps(
            {
                "project_id": status.project_id,
                "exists": status.exists,
                "template_version": status.template_version,
                "outputs": status.outputs,
            },
            default=str,
        )
    )


@app.command("delete")
@user_errors
def delete(
    client: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    terraform: str | None = TERRAFORM,
    stacks_dir: Path | None = STACKS_DIR,
) -> None:
    """Stop a client project's services and delete it with all its data (on GCP: terraform destroy)."""
    if not yes:
        typer.confirm(f"Delete {client} and all its data?", abort=True)
    settings = load_settings()
    spec = find_client_spec(client, settings)
    provisioner = _provisioner(settings, terraform=terraform, stacks_dir=stacks_dir)
    with ProvisionProgressView(console, f"deleting {spec.project_id}") as view:
        provisioner.delete(spec, on_event=view)
    console.print(f"deleted {client}")
