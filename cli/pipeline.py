"""``b2brec pipeline``: run the ML pipeline (extract -> vocab -> train -> register) for a client,
resume a failed run, run one stage, and start/stop the client's MLflow server."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from b2brec.context import client_context
from b2brec.progress import ProgressEvent
from b2brec.projects.local import open_project
from cli.common import console, load_settings, user_errors
from trainer.run_records import RunRecord

app = typer.Typer(help="ML pipeline: extract, vocab, train, register (and the MLflow server).", no_args_is_help=True)
mlflow_app = typer.Typer(help="The client's local MLflow tracking server.", no_args_is_help=True)
app.add_typer(mlflow_app, name="mlflow")

CLIENT = typer.Option(..., "--client", help="Project id, client id or environment name, e.g. demo-dev.")


def run_with_progress(
    client: str,
    *,
    run_id: str | None,
    from_stage: str | None,
    only: str | None,
    mlflow_uri: str | None,
    overrides: dict[str, Any],
) -> RunRecord:
    from trainer import STAGES
    from trainer.pipeline import RunOptions, context_for, run_pipeline

    client_ctx = client_context(client, load_settings())
    ctx = context_for(client_ctx, mlflow_uri=mlflow_uri)
    options = RunOptions.from_spec(client_ctx.spec, **overrides)
    stages = [only] if only else list(STAGES[STAGES.index(from_stage) :] if from_stage else STAGES)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} stages"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("pipeline", total=len(stages))

        def on_event(event: ProgressEvent) -> None:
            progress.update(task, description=event.message[:100], completed=event.done or 0)

        state = run_pipeline(ctx, options=options, run_id=run_id, from_stage=from_stage, only=only, on_event=on_event)
    _print_state(state)
    return state


def _print_quality(quality: dict[str, Any]) -> None:
    """The verdict line: a model that loses to a baseline is flagged in red."""
    if not quality or quality.get("best_baseline") is None:
        return
    if quality.get("loses_to_baseline"):
        console.print(
            f"[red]flagged: the model loses to the baseline {quality['best_baseline']} on {quality['metric']} "
            f"({quality['model']:.4f} < {quality['baseline']:.4f}); it will not replace a better live model "
            "automatically[/red]"
        )
    else:
        console.print(
            f"[green]the model beats every baseline on {quality['metric']} ({quality['model']:.4f} vs. "
            f"{quality['best_baseline']} {quality['baseline']:.4f})[/green]"
        )


def _print_state(state: RunRecord) -> None:
    table = Table("stage", "status", "job", "seconds", "machine", "reason", title=f"run {state.run_id}: {state.status}")
    for stage in state.stages:
        job = stage.job
        seconds = f"{job.seconds:.1f}" if job is not None and job.seconds is not None else ""
        machine = job.machine_type if job is not None else ""
        job_id = (job.job_id or "") if job else ""
        table.add_row(stage.name, stage.status, job_id, seconds, machine, (stage.error or "")[:80])
    console.print(table)
    extracted = state.stage("extract").outputs.get("rows", {})
    if extracted:
        console.print(
            "extract: "
            + ", ".join(
                f"{label} {extracted[key]:,}"
                for key, label in (
                    ("train", "train rows"),
                    ("test", "test rows"),
                    ("malformed", "malformed"),
                    ("rejected", "rejected by row rules"),
                    ("excluded", "excluded products"),
                    ("no_customer", "without a customer"),
                )
                if key in extracted
            )
        )
    metrics = state.stage("train").outputs
    if metrics.get("metrics"):
        results = Table("model", "recall@10", "recall@50", "recall@100", "ndcg@10", title="time-split test set")
        rows = {"b2brec (served model)": metrics["metrics"], **metrics.get("baselines", {})}
        for name, values in rows.items():
            results.add_row(
                name, *(f"{values.get(f'all/{k}', 0):.4f}" for k in ("recall@10", "recall@50", "recall@100", "ndcg@10"))
            )
        console.print(results)
        _print_quality(metrics.get("quality") or {})


@app.command("run")
@user_errors
def run(
    client: str = CLIENT,
    run_id: str | None = typer.Option(None, "--run-id", help="Resume this run (default: a new run)."),
    from_stage: str | None = typer.Option(None, "--from-stage", help="extract, vocab, train or register."),
    cutoff: str | None = typer.Option(None, "--cutoff", help="Window end (exclusive), YYYY-MM-DD."),
    window_days: int | None = typer.Option(None, "--window-days", min=7),
    test_days: int | None = typer.Option(None, "--test-days", min=1),
    epochs: int | None = typer.Option(None, "--epochs", min=1),
    batch_size: int | None = typer.Option(None, "--batch-size", min=16),
    no_baselines: bool = typer.Option(
        False, "--no-baselines", help="Skip the baselines (the quality verdict is then unknown)."
    ),
    mlflow_uri: str | None = typer.Option(None, "--mlflow-uri", help="Default: the client's local server."),
) -> None:
    """Run the whole pipeline (or resume a failed run from its failed stage)."""
    overrides = {
        "cutoff": cutoff,
        "window_days": window_days,
        "test_days": test_days,
        "epochs": epochs,
        "batch_size": batch_size,
        "baselines": False if no_baselines else None,
    }
    run_with_progress(
        client, run_id=run_id, from_stage=from_stage, only=None, mlflow_uri=mlflow_uri, overrides=overrides
    )


@app.command("stage")
@user_errors
def stage(
    name: str = typer.Argument(..., help="extract, vocab, train or register."),
    client: str = CLIENT,
    run_id: str | None = typer.Option(None, "--run-id", help="The run whose stage to (re)run."),
    mlflow_uri: str | None = typer.Option(None, "--mlflow-uri"),
) -> None:
    """Run a single stage of a run (extract starts a new run when --run-id is not given)."""
    run_with_progress(client, run_id=run_id, from_stage=None, only=name, mlflow_uri=mlflow_uri, overrides={})


@app.command("status")
@user_errors
def status(client: str = CLIENT, run_id: str | None = typer.Option(None, "--run-id")) -> None:
    """Show one run's state (or list runs)."""
    from trainer.runs import list_runs, poll

    ctx = _context(client)
    if run_id:
        _print_state(poll(ctx, run_id))
        return
    table = Table("run id", "status", "created", "reason")
    for state in list_runs(ctx):
        table.add_row(state.run_id, state.status, state.created_at[:19], (state.error or "")[:80])
    console.print(table)


@app.command("cancel")
@user_errors
def cancel(client: str = CLIENT, run_id: str = typer.Option(..., "--run-id", help="The run to stop.")) -> None:
    """Cancel a run: its running job is stopped; resume it later with `pipeline run --run-id`."""
    from trainer.runs import cancel as cancel_run

    _print_state(cancel_run(_context(client), run_id))


def _context(client: str) -> Any:
    from trainer.pipeline import context_for

    return context_for(client_context(client, load_settings()))


@mlflow_app.command("start")
@user_errors
def mlflow_start(client: str = CLIENT) -> None:
    """Start the client's MLflow server (SQLite in db/, artifacts in the mlflow bucket)."""
    from trainer import mlflow_server

    console.print(f"MLflow at {mlflow_server.start(open_project(client, load_settings()))}")


@mlflow_app.command("stop")
@user_errors
def mlflow_stop(client: str = CLIENT) -> None:
    """Stop the client's MLflow server."""
    from trainer import mlflow_server

    stopped = mlflow_server.stop(open_project(client, load_settings()))
    console.print("stopped" if stopped else "no MLflow server was started for this client")


@mlflow_app.command("status")
@user_errors
def mlflow_status(client: str = CLIENT) -> None:
    """Say whether the client's MLflow server answers."""
    from trainer import mlflow_server

    project = open_project(client, load_settings())
    console.print_json(
        json.dumps({"url": mlflow_server.tracking_uri(project), "running": mlflow_server.is_running(project)})
    )
