"""``b2brec app``: the client app (Flask) with its Celery worker and beat."""

from __future__ import annotations

import time

import typer

from b2brec.errors import B2BRecError
from b2brec.settings import Backend
from cli.common import console, load_settings, user_errors

app = typer.Typer(help="The client app: connections, ETL, training, deployments in the browser.", no_args_is_help=True)


@app.command("serve")
@user_errors
def serve(
    client: str = typer.Option(..., "--client", help="Project id, client id or environment name, e.g. demo-dev."),
    port: int = typer.Option(None, "--port", help="Port; default: the client project's client_app port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    admin_email: str = typer.Option(None, "--create-admin", help="Create (or reset) this admin login and print it."),
    beat: bool = typer.Option(True, "--beat/--no-beat", help="Run Celery beat (ETL schedule) too."),
) -> None:
    """Run the client app of CLIENT with its worker until Ctrl-C."""
    from client_app.config import AppConfig
    from client_app.demo import ensure_user
    from client_app.runner import start

    settings = load_settings()
    if port is not None and not 1 <= port <= 65535:
        raise B2BRecError(f"--port {port} is outside 1-65535")
    if port is None:
        if settings.backend is not Backend.LOCAL:
            raise B2BRecError("give --port on backend=gcp")
        from b2brec.projects.local import open_project

        port = open_project(client, settings).ports["client_app"]
    base_url = f"http://{host}:{port}"
    env = {"B2BREC_APP_CLIENT": client, "B2BREC_APP_SECURE_COOKIES": "0", "B2BREC_APP_BASE_URL": base_url}
    config = AppConfig(client=client, secure_cookies=False, base_url=base_url)
    if admin_email:
        password = ensure_user(config, settings, admin_email)
        console.print(f"admin login: [bold]{admin_email}[/bold] / [bold]{password}[/bold]")
    from b2brec.projects.local import open_project

    logs = open_project(client, settings).logs_dir if settings.backend is Backend.LOCAL else settings.home / "logs"
    processes = start(env, host=host, port=port, logs=logs, beat=beat)
    console.print(f"[green]client app[/green] at {processes.url} (worker and beat running; logs in {logs})")
    try:
        while all(p.poll() is None for p in processes.all()):
            time.sleep(1)
        console.print("[red]a client app process stopped[/red]; see the logs")
    except KeyboardInterrupt:
        pass
    finally:
        processes.stop()
