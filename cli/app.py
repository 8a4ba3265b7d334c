"""``b2brec app serve``: the client app (Flask) with its Celery worker and beat.

The CLI and the apps are sibling layers (neither imports the other), so this runs
``python -m client_app serve`` with the same environment and passes its exit code on.
"""

from __future__ import annotations

import subprocess
import sys

import typer

from cli.common import load_settings, user_errors

app = typer.Typer(help="The client app: connections, ETL, training, deployments in the browser.", no_args_is_help=True)


@app.command("serve")
@user_errors
def serve(
    client: str = typer.Option(..., "--client", help="Project id, client id or environment name, e.g. demo-dev."),
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Default: the client project's client_app port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    admin_email: str = typer.Option(None, "--create-admin", help="Create (or reset) this admin login and print it."),
    beat: bool = typer.Option(True, "--beat/--no-beat", help="Run Celery beat (the ETL schedule) too."),
) -> None:
    """Run the client app of CLIENT with its worker until Ctrl-C."""
    load_settings()  # fail early, with the CLI's message, on invalid B2BREC_* settings
    command = [sys.executable, "-m", "client_app", "serve", "--client", client, "--host", host]
    command += ["--port", str(port)] if port is not None else []
    command += ["--create-admin", admin_email] if admin_email else []
    command += [] if beat else ["--no-beat"]
    try:
        code = subprocess.call(command)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)
