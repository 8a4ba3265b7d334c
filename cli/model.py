"""``b2brec model``: which model version a client serves; deploy and roll back (serving instances follow)."""

from __future__ import annotations

import getpass

import typer
from rich.table import Table

from b2brec.context import client_context
from b2brec.live import Deployment
from b2brec.progress import ProgressEvent
from cli.common import console, load_settings, user_errors

app = typer.Typer(help="The live model version of a client: status, deploy, rollback.", no_args_is_help=True)

CLIENT = typer.Option(..., "--client", help="Project id or environment name, e.g. demo-dev.")
REASON = typer.Option("", "--reason", help="Why (kept in the deployment history).")


def _show(event: ProgressEvent) -> None:
    if event.kind == "error":
        return  # user_errors prints the error with its fix
    mark = {"start": "…", "advance": "…", "done": "[green]✓[/green]"}[event.kind]
    console.print(f"{mark} {event.stage}: {event.message}")


def _done(deployment: Deployment) -> None:
    console.print(
        f"[green]{deployment.version} is live[/green] (was {deployment.previous or 'none'}); "
        "serving instances switch within their refresh interval"
    )


@app.command("deploy")
@user_errors
def deploy(
    client: str = CLIENT,
    version: str | None = typer.Option(None, "--version", help="Bundle version; default: the newest."),
    reason: str = REASON,
) -> None:
    """Check a model version loads and answers, then make it the client's live version."""
    from serving.deployments import deploy_model

    ctx = client_context(client, load_settings())
    _done(deploy_model(ctx, version, actor=getpass.getuser(), reason=reason, on_event=_show))


@app.command("rollback")
@user_errors
def rollback(client: str = CLIENT, reason: str = REASON) -> None:
    """Serve again the version the live one replaced."""
    from serving.deployments import rollback_model

    ctx = client_context(client, load_settings())
    _done(rollback_model(ctx, actor=getpass.getuser(), reason=reason, on_event=_show))


@app.command("status")
@user_errors
def status(client: str = CLIENT) -> None:
    """The live version, the versions available and the deployment history."""
    from serving.deployments import model_status

    found = model_status(client_context(client, load_settings()))
    console.print(f"live: [bold]{found.live or 'none'}[/bold]; available: {', '.join(found.available) or 'none'}")
    table = Table("when (UTC)", "action", "from", "to", "who", "why", title="deployments")
    for item in found.history:
        table.add_row(item.at[:19], item.action, item.previous or "-", item.version, item.actor, item.reason)
    console.print(table)
