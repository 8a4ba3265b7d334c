"""``b2brec etl``: test a client's source connections and load its data into the warehouse."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from b2brec.etl import EtlProgress, run_etl, test_connection
from b2brec.projects.local import open_project
from cli.common import console, load_settings, user_errors
from cli.render_etl import render_report, render_summary

app = typer.Typer(help="Load client data into the warehouse (dlt).", no_args_is_help=True)

CLIENT = typer.Option(..., "--client", help="Project id, client id or environment name, e.g. demo-wholesale.")


@app.command("test-connection")
@user_errors
def test_connection_cmd(client: str = CLIENT) -> None:
    """Check every source and mapped table of a client, with the fix for each problem."""
    settings = load_settings()
    spec = open_project(client, settings).spec
    with console.status("testing connections…"):
        report = test_connection(spec, settings)
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
    settings = load_settings()
    spec = open_project(client, settings).spec
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<13}"),
        BarColumn(),
        TextColumn("{task.fields[status]:<10} {task.completed:>12,.0f} rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(event: EtlProgress) -> None:
            if event.table not in tasks:
                tasks[event.table] = progress.add_task(event.table, total=None, status="reading")
            task = tasks[event.table]
            if event.phase == "extract":
                progress.update(task, completed=event.rows)
            elif event.phase == "load":
                progress.update(task, completed=event.rows, status="loading")
            else:
                progress.update(task, total=max(event.rows, 1), completed=max(event.rows, 1), status="written")

        summary = run_etl(spec, settings, full_refresh=full_refresh, tables=table or None, progress=on_progress)
    console.print(render_summary(summary))
