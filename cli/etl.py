"""``b2brec etl``: test a client's source connections and load its data into the warehouse."""

from __future__ import annotations

import typer

from b2brec.context import client_context
from b2brec.etl import run_etl, test_connection
from cli.common import console, load_settings, user_errors
from cli.render_etl import EtlProgressView, render_report, render_summary

app = typer.Typer(help="Load client data into the warehouse (dlt).", no_args_is_help=True)

CLIENT = typer.Option(..., "--client", help="Project id, client id or environment name, e.g. demo-wholesale.")


@app.command("test-connection")
@user_errors
def test_connection_cmd(client: str = CLIENT) -> None:
    """Check every source and mapped table of a client, with the fix for each problem."""
    ctx = client_context(client, load_settings())
    with console.status("testing connections…"):
        report = test_connection(ctx)
    console.print(render_report(report))
    if not report.ok:
        raise typer.Exit(2)
    console.print("[green]all checks passed[/green]")


@app.command("run")
@user_errors
def run_cmd(
    client: str = CLIENT,
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Reload everything, ignoring watermarks."),
    table: list[str] = typer.Option(None, "--table", help="Load only this platform table (repeatable)."),
) -> None:
    """Load the client's mapped tables: incremental where a cursor is mapped, with a summary at the end."""
    ctx = client_context(client, load_settings())
    with EtlProgressView(console) as view:
        summary = run_etl(ctx, full_refresh=full_refresh, tables=table or None, on_event=view)
    console.print(render_summary(summary))
