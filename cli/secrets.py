"""``b2brec secrets``: store source passwords in the client's secrets backend."""

from __future__ import annotations

import sys

import typer

from b2brec.context import client_context
from cli.common import console, load_settings, user_errors

app = typer.Typer(help="Secrets of a client (values never printed).", no_args_is_help=True)


@app.command("set")
@user_errors
def set_(
    name: str = typer.Argument(..., help="Secret name, as referenced by password_secret in the spec."),
    client: str = typer.Option(..., "--client", help="Project id, client id or environment name."),
    stdin: bool = typer.Option(False, "--stdin", help="Read the value from standard input."),
) -> None:
    """Store a secret value (prompted without echo, or read from stdin)."""
    ctx = client_context(client, load_settings())
    value = sys.stdin.read().rstrip("\n") if stdin else typer.prompt(f"value for {name}", hide_input=True)
    ctx.backends.secrets.put(name, value)
    console.print(f"stored secret {name} for {ctx.project_id}")
