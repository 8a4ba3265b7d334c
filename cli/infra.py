"""``b2brec synth`` and ``b2brec deploy``: Terraform JSON per stack, and applying it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import console, load_settings, user_errors
from stacks.platform import DEFAULT_PLATFORM_FILE, load_platform
from stacks.synth import SynthResult, resolve_targets, synthesize
from stacks.terraform import TerraformRunner, find_terraform

DEFAULT_OUT = Path("cdktf.out")


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def _synth(names: list[str], all_: bool, out: Path, platform_file: Path) -> list[SynthResult]:
    settings = load_settings()
    targets = resolve_targets(settings.environments_dir, names=names, all_=all_)
    platform = load_platform(platform_file)
    with _progress() as progress:
        task = progress.add_task("synthesizing stacks", total=len(targets))
        results = synthesize(targets, platform, out, on_stack=lambda _name: progress.advance(task))
    return results


@user_errors
def synth(
    env: list[str] = typer.Option([], "--env", help="Stack to synthesize: an environment name, org or control-plane."),
    all_: bool = typer.Option(False, "--all", help="Synthesize org, control-plane and every environment."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Output folder; one sub-folder per stack."),
    platform_file: Path = typer.Option(DEFAULT_PLATFORM_FILE, "--platform", help="Platform settings YAML."),
) -> None:
    """Write deterministic Terraform JSON (cdk.tf.json) for the chosen stacks."""
    results = _synth(env, all_, out, platform_file)
    table = Table("stack", "resources", "bytes", "file")
    for result in results:
        table.add_row(result.name, str(result.resources), str(result.size), str(result.path))
    console.print(table)


@user_errors
def deploy(
    env: str = typer.Option(..., "--env", help="Stack to deploy: an environment name, org or control-plane."),
    plan_only: bool = typer.Option(False, "--plan-only", help="Run init and plan, but do not apply."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Folder the stack is synthesized into."),
    platform_file: Path = typer.Option(DEFAULT_PLATFORM_FILE, "--platform", help="Platform settings YAML."),
    terraform: str | None = typer.Option(None, "--terraform", help="Path of the terraform binary (default: PATH)."),
) -> None:
    """Synthesize one stack, then run terraform init, plan and (unless --plan-only) apply in its folder."""
    runner = TerraformRunner(find_terraform(terraform))  # fail before synthesizing when it is missing
    (result,) = _synth([env], False, out, platform_file)
    workdir = result.path.parent
    console.print(f"running {runner.binary} in {workdir}")
    runner.run(workdir, plan_only=plan_only, on_step=lambda step: console.rule(f"terraform {step}"))
    console.print(f"[green]{'planned' if plan_only else 'deployed'}:[/green] {env}")
