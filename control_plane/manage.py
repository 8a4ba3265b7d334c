"""The control plane's commands: ``python -m control_plane.manage control-plane|rollout …``
(what ``b2brec control-plane …`` and ``b2brec rollout …`` run;
template versions are published with ``b2brec template release``: the apps are
independent layers, so the ``b2brec`` CLI starts this module instead of importing it).

Commands work in-process against the control plane's database, so CI can drive a rollout."""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from b2brec.errors import B2BRecError
from b2brec.settings import Settings

console = Console()
err_console = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")


def load_settings() -> Settings:
    try:
        settings = Settings()
    except Exception as exc:  # pydantic ValidationError: show which variable is wrong
        err_console.print(f"[red]error:[/red] invalid B2BREC_* settings: {exc}")
        raise typer.Exit(2) from None
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """A ``B2BRecError`` becomes one red line with its fix and exit code 2, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except B2BRecError as exc:
            err_console.print(
                f"[red]error ({exc.code}):[/red] {exc.message}" + (f"\n  fix: {exc.fix}" if exc.fix else "")
            )
            raise typer.Exit(2) from None

    return wrapper


app = typer.Typer(help="The control plane app: serve it, run its worker, manage operators.", no_args_is_help=True)
rollout_app = typer.Typer(help="Canary rollouts of a template version over the fleet.", no_args_is_help=True)


def _app(**kwargs: Any) -> Any:
    from control_plane.app import create_app
    from control_plane.settings import ControlPlaneSettings

    try:
        cp = ControlPlaneSettings()
    except Exception as exc:  # pydantic ValidationError: name the variable
        raise B2BRecError(f"invalid B2BREC_CP_* settings: {exc}", code="invalid_settings") from None
    return create_app(cp, load_settings(), **kwargs)


@app.command("serve")
@user_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8100, help="Port."),
    worker: bool = typer.Option(True, help="Also start the Celery worker (provisioning, rollouts, health polls)."),
    demo: bool = typer.Option(False, help="Register the demo client and print a demo operator login first."),
) -> None:
    """Serve the control plane UI and JSON API."""
    if not 1 <= port <= 65535:
        raise B2BRecError(f"--port {port} is outside 1-65535", code="invalid_request")
    if demo:
        from control_plane.demo import prepare_demo

        login = prepare_demo(load_settings())
        console.print(f"demo operator: [bold]{login.email}[/bold] password [bold]{login.password}[/bold]")
    flask_app = _app()
    child = None
    if worker:
        command = [sys.executable, "-m", "control_plane.manage", "control-plane", "worker"]
        child = subprocess.Popen(command, env=os.environ.copy())
    console.print(f"[green]control plane[/green] at http://{host}:{port}/ (sign in with an operator account)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the worker below is stopped too
    try:
        from werkzeug.serving import run_simple

        run_simple(host, port, flask_app, threaded=True, use_reloader=False)
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=10)


@app.command("worker")
@user_errors
def worker(beat: bool = typer.Option(True, help="Also schedule rollout ticks and fleet polls.")) -> None:
    """Run the Celery worker (SQLite broker locally, Redis on GCP)."""
    from control_plane.worker import worker_app

    celery = worker_app(_app())
    argv = ["worker", "--pool=solo", "--loglevel=INFO"] + (["--beat"] if beat else [])
    celery.worker_main(argv)


@app.command("create-operator")
@user_errors
def create_operator_cmd(
    email: str = typer.Argument(..., help="The operator's email (their login)."),
    role: str = typer.Option("viewer", help="viewer, operator or admin."),
    password_env: str = typer.Option(
        "B2BREC_CP_NEW_PASSWORD", help="Environment variable holding the password (never a command-line argument)."
    ),
) -> None:
    """Create an operator account."""
    from control_plane.auth.services import create_operator

    password = os.environ.get(password_env, "")
    if not password:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with _app(enqueue=lambda name, arg: None).app_context():
        create_operator(email, password, role, actor="cli")
    console.print(f"created {role} {email}")


def _print_status(payload: dict[str, Any]) -> None:
    rollout = payload["rollout"]
    console.print(
        f"rollout #{rollout['id']} {rollout['version']}: {rollout['status']} "
        f"(wave {rollout['current_wave'] + 1}/{rollout['waves']})"
        + (f" — {rollout['halt_reason']}" if rollout["halt_reason"] else "")
    )
    for target in payload["targets"]:
        console.print(f"  wave {target['wave']}: {target['client_id']:<24} {target['status']:<12} {target['detail']}")


def _status(rollout_id: int) -> dict[str, Any]:
    from control_plane.rollouts import services

    return {
        "rollout": services.get(rollout_id).to_dict(),
        "targets": [t.to_dict() for t in services.targets(rollout_id)],
    }


@rollout_app.command("start")
@user_errors
def rollout_start(
    version: str = typer.Argument(..., help="A released template version."),
    soak: float = typer.Option(None, help="Soak seconds per wave (default: B2BREC_CP_SOAK_SECONDS)."),
    wait: bool = typer.Option(False, help="Drive the rollout here until it completes or halts (exit 1 on halt)."),
) -> None:
    """Start a canary rollout of VERSION."""
    from control_plane.rollouts import services
    from control_plane.runtime import runtime
    from control_plane.worker import run_task

    # with --wait this process is the worker: each client's apply job (queued by a tick) runs here
    apps: list[Any] = []
    flask_app = _app(enqueue=lambda name, arg: run_task(apps[0], name, arg))
    apps.append(flask_app)
    with flask_app.app_context():
        rollout = services.start(runtime(), version, actor="cli", soak_seconds=soak)
        rollout_id = rollout.id
    if not wait:
        console.print(f"started rollout #{rollout_id}; watch it with `b2brec rollout status {rollout_id}`")
        return
    while True:
        with flask_app.app_context():
            services.tick(runtime(), rollout_id)
            payload = _status(rollout_id)
        if payload["rollout"]["status"] in ("completed", "halted"):
            _print_status(payload)
            raise typer.Exit(0 if payload["rollout"]["status"] == "completed" else 1)
        time.sleep(1.0)


@rollout_app.command("status")
@user_errors
def rollout_status(rollout_id: int = typer.Argument(None, help="Rollout number; default: the latest.")) -> None:
    """Show a rollout's waves and each client's state."""
    from control_plane.rollouts import services

    with _app(enqueue=lambda name, arg: None).app_context():
        if rollout_id is None:
            latest = services.history(1)
            if not latest:
                raise B2BRecError("no rollout yet; start one with `b2brec rollout start VERSION`", code="not_found")
            rollout_id = latest[0].id
        _print_status(_status(rollout_id))


@rollout_app.command("halt")
@user_errors
def rollout_halt(
    rollout_id: int = typer.Argument(..., help="Rollout number."),
    roll_back: bool = typer.Option(True, help="Roll the current wave back to the previous versions."),
) -> None:
    """Halt a running rollout (and by default roll its current wave back)."""
    from control_plane.rollouts import services
    from control_plane.runtime import runtime

    with _app(enqueue=lambda name, arg: None).app_context():
        services.halt(runtime(), rollout_id, actor="cli", roll_back=roll_back)
        _print_status(_status(rollout_id))


main = typer.Typer(name="control_plane.manage", no_args_is_help=True, pretty_exceptions_enable=False)
main.add_typer(app, name="control-plane")
main.add_typer(rollout_app, name="rollout")

if __name__ == "__main__":
    main()
