"""Entry point of the ``b2brec`` command: one sub-command group per domain."""

from __future__ import annotations

import typer

from cli import client, data, demo, etl, evaluate, infra, pipeline, secrets, serve

app = typer.Typer(
    name="b2brec",
    help="b2brec: product recommendations for B2B sales data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("demo")(demo.demo)
app.add_typer(client.app, name="client")
app.add_typer(secrets.app, name="secrets")
app.add_typer(etl.app, name="etl")
app.add_typer(data.app, name="data")
app.add_typer(pipeline.app, name="pipeline")
app.command("serve")(serve.serve)
app.command("evaluate")(evaluate.evaluate)
app.command("synth")(infra.synth)
app.command("deploy")(infra.deploy)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
