"""``b2brec serve``: run the recommendation API of one client on its trained model."""

from __future__ import annotations

import getpass
import os

import typer

from b2brec.bundle import check_version
from b2brec.context import client_context
from b2brec.errors import B2BRecError
from b2brec.live import live_version, set_live_version
from cli.common import console, load_settings, user_errors


@user_errors
def serve(
    client: str = typer.Option(..., "--client", help="Project id, client id or environment name, e.g. demo-dev."),
    version: str = typer.Option(None, "--version", help="Model version to serve; default: the newest bundle."),
    port: int = typer.Option(None, "--port", help="Port; default: the client project's serving port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 in a container)."),
) -> None:
    """Serve recommendations for CLIENT (FastAPI + uvicorn); docs at /docs, metrics at /metrics."""
    import uvicorn

    from serving.app import app_for_client
    from serving.config import ServingSettings
    from serving.logs import configure_logging
    from serving.model.loader import BundleSource

    settings = load_settings()
    if version is not None:
        check_version(version)
    if port is not None and not 1 <= port <= 65535:
        raise B2BRecError(f"--port {port} is outside 1-65535", code="invalid_request")
    serving = ServingSettings(version=version) if version else ServingSettings()
    ctx = client_context(client, settings)
    spec = ctx.spec
    if port is None:  # the local project's port, else the one Cloud Run tells the container
        port = ctx.backends.service_port("serving") or int(os.environ.get("PORT", "8080"))
    source = BundleSource(ctx.backends.storage("models"))
    with console.status("checking model versions…"):
        available = source.versions()
    if not available:
        raise B2BRecError(
            f"client {client} has no trained model yet (no bundle in {source.store.url()}); train first",
            code="no_model",
        )
    live = live_version(source.store)
    chosen = version or live or available[-1]
    if chosen not in available:
        raise B2BRecError(
            f"model version {chosen!r} not found; available: {', '.join(available[-10:])}", code="invalid_bundle"
        )
    if version is not None and version != live:  # an explicit --version deploys it for every instance
        set_live_version(source.store, version, actor=f"cli:{getpass.getuser()}", reason="b2brec serve --version")
    console.print(f"[green]serving[/green] {spec.project_id} model {chosen} at http://{host}:{port} (docs: /docs)")
    configure_logging(serving.log_level)
    app = app_for_client(ctx, serving.model_copy(update={"version": chosen}))
    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None)
