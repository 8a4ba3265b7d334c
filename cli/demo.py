"""``b2brec demo``: the product's main job end to end on the embedded default.

generate a client's ERP database → create its local client project → test the connection
→ ETL into its warehouse → summary → train and register a model → serve it and send requests.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from b2brec.context import context_for_spec
from b2brec.datagen import GeneratorConfig, generate
from b2brec.etl import run_etl, test_connection
from b2brec.naming import BUCKET_PURPOSES
from b2brec.projects.local import LocalClientProject, create_project, upload_area
from b2brec.settings import Settings
from b2brec.spec import load_environment
from cli.common import console, load_settings, user_errors
from cli.data import DEMO_ENVIRONMENT, DEMO_SOURCE_FILE
from cli.demo_apps import start_client_app, start_control_plane
from cli.demo_serving import show_requests, start_server
from cli.pipeline import run_with_progress
from cli.render_etl import EtlProgressView, render_report, render_summary


def _step(number: int, title: str) -> None:
    console.rule(f"[bold cyan]{number}. {title}")


def _generate(settings: Settings, transactions: int, seed: int) -> Path:
    spec = load_environment(settings.environments_dir, DEMO_ENVIRONMENT)
    source = upload_area(spec, settings) / DEMO_SOURCE_FILE
    source.parent.mkdir(parents=True, exist_ok=True)
    config = GeneratorConfig(transactions=transactions, seed=seed, end_date=date(2026, 11, 1), days=365)
    with Progress(
        TextColumn("generating sales"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("generate", total=transactions)
        summary = generate(
            config, f"sqlite:///{source}", progress=lambda done, total: progress.update(task, completed=done)
        )
    console.print(
        f"{summary.customers:,} customers, {summary.products:,} products, {summary.transactions:,} sales lines "
        f"from {summary.first_sale:%Y-%m-%d} to {summary.last_sale:%Y-%m-%d} → {source}"
    )
    return source


def _summary(project: LocalClientProject) -> None:
    warehouse = project.warehouse(read_only=True)
    table = Table("table", "rows", "first", "last", title=f"warehouse of {project.project_id}")
    counts = warehouse.query(
        "SELECT COUNT(*) AS n, MIN(timestamp) AS first, MAX(timestamp) AS last FROM raw_data.transactions"
    ).to_pylist()[0]
    table.add_row(
        "raw_data.transactions", f"{counts['n']:,}", f"{counts['first']:%Y-%m-%d}", f"{counts['last']:%Y-%m-%d}"
    )
    for name in ("products", "customers"):
        n = warehouse.query(f"SELECT COUNT(*) AS n FROM raw_data.{name}").to_pylist()[0]["n"]
        table.add_row(f"raw_data.{name}", f"{n:,}", "", "")
    console.print(table)
    places = Table("what", "where", title="where everything lives", show_lines=False)
    places.add_row("project", f"{project.project_id} ({project.root})")
    places.add_row("warehouse", str(project.warehouse_path))
    for purpose in BUCKET_PURPOSES:
        places.add_row(f"{purpose} bucket", project.storage(purpose).url())
    console.print(places)


@user_errors
def demo(
    transactions: int = typer.Option(50_000, min=1_000, max=10_000_000, help="Sales lines to generate."),
    seed: int = typer.Option(42, help="Random seed of the synthetic data."),
    epochs: int = typer.Option(5, min=1, max=100, help="Training epochs of the two-tower model."),
    keep_serving: bool = typer.Option(
        True, "--keep-serving/--stop-serving", help="Leave the serving API running after the demo requests."
    ),
    web: bool = typer.Option(
        True, "--web/--no-web", help="Start the client app and the control plane (and print their logins) at the end."
    ),
) -> None:
    """Run the main job end to end on the embedded default."""
    settings = load_settings()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per demo request is noise here
    _step(1, "Generate a client's ERP database (synthetic wholesale data)")
    _generate(settings, transactions, seed)

    _step(2, f"Create the local client project ({DEMO_ENVIRONMENT})")
    spec = load_environment(settings.environments_dir, DEMO_ENVIRONMENT)
    project = create_project(spec, settings, environment=DEMO_ENVIRONMENT)
    console.print(f"{project.project_id} at {project.root}")

    _step(3, "Test the connection to the client's database")
    ctx = context_for_spec(project.spec, settings, name=DEMO_ENVIRONMENT)
    report = test_connection(ctx)
    console.print(render_report(report))

    _step(4, "ETL into the client's warehouse (dlt, incremental, merge on key)")
    with EtlProgressView(console) as view:
        load = run_etl(ctx, on_event=view)
    console.print(render_summary(load))

    _step(5, "Summary of the load")
    _summary(project)

    _step(6, "Train and register a model (extract → vocabulary → two-tower → register)")
    state = run_with_progress(
        project.project_id, run_id=None, from_stage=None, only=None, mlflow_uri=None, overrides={"epochs": epochs}
    )
    console.print(f"MLflow UI: {project.urls()['mlflow']} (run {state.run_id})")

    _step(7, "Serve recommendations from the fresh model")
    server, url = start_server(project, version=state.run_id)
    try:
        show_requests(url, project)
    finally:
        if not keep_serving:
            server.terminate()
            server.wait(timeout=30)
    if keep_serving:
        console.print(
            f"[green]serving at {url}[/green] (docs {url}/docs, metrics {url}/metrics); stop with: kill {server.pid}"
        )
    if not web:
        return

    _step(8, "Start the client app for the demo client (Flask + Celery worker and beat)")
    client_app = start_client_app(project)
    console.print(f"[green]client app at {client_app.url}[/green]  login: [bold]{client_app.login}[/bold]")
    console.print(f"[dim]log {client_app.log}; stop with: kill -- -{client_app.pid}[/dim]")

    _step(9, "Start the control plane with the demo client registered")
    control_plane = start_control_plane(settings.home)
    console.print(f"[green]control plane at {control_plane.url}[/green]  login: [bold]{control_plane.login}[/bold]")
    console.print(f"[dim]log {control_plane.log}; stop with: kill -- -{control_plane.pid}[/dim]")
