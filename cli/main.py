"""Entry point of the ``b2brec`` command: one sub-command group per domain."""

from __future__ import annotations

import typer

from cli import app as client_app
from cli import client, control_plane, data, demo, etl, evaluate, infra, model, pipeline, secrets, serve, template

app = typer.Typer(
    name="b2brec",
    help="b2brec: product recommendations for B2B sales data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("demo")(demo.demo)
app.add_typer(client.app, name="client")
app.add_typer(client_app.app, name="app")
app.add_typer(secrets.app, name="secrets")
app.add_typer(etl.app, name="etl")
app.add_typer(data.app, name="data")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(model.app, name="model")
app.add_typer(template.app, name="template")
app.command("serve")(serve.serve)
app.command("evaluate")(evaluate.evaluate)
app.command("synth")(infra.synth)
app.command("deploy")(infra.deploy)
control_plane.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
