"""Deploy and rollback as service functions over a client's context: checked like serving loads a model,
recorded as the client's live version, reported as progress events."""

from __future__ import annotations

import pytest

from b2brec.bundle import write_bundle
from b2brec.context import client_context
from b2brec.errors import B2BRecError
from b2brec.progress import ProgressEvent
from b2brec.projects.local import create_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from serving.config import ServingSettings
from serving.deployments import deploy_model, model_status, rollback_model
from serving.synthetic import synthetic_bundle

SERVING = ServingSettings(compute_threads=1)


@pytest.fixture
def ctx(settings: Settings):
    project = create_project(load_environment(settings.environments_dir, "demo-dev"), settings, environment="demo-dev")
    for seed, version in enumerate(("v1", "v2"), start=1):
        write_bundle(project.storage("models"), synthetic_bundle(version, n_products=50, n_customers=20, seed=seed))
    return client_context("demo-dev", settings)


def test_deploy_then_rollback_moves_the_live_version_and_keeps_history(ctx) -> None:
    events: list[ProgressEvent] = []
    first = deploy_model(ctx, "v1", actor="ana", reason="first model", serving=SERVING, on_event=events.append)
    assert (first.version, first.previous, first.actor) == ("v1", None, "ana")
    assert [(e.stage, e.kind) for e in events] == [
        ("deploy", "start"),
        ("check", "start"),
        ("check", "done"),
        ("deploy", "done"),
    ]
    assert events[-1].data == {"version": "v1", "previous": None}

    newest = deploy_model(ctx, actor="ana", serving=SERVING)  # no version: the newest bundle
    assert (newest.version, newest.previous) == ("v2", "v1")
    back = rollback_model(ctx, actor="bo", reason="latency", serving=SERVING)
    assert (back.version, back.previous, back.action) == ("v1", "v2", "rollback")

    status = model_status(ctx)
    assert status.live == "v1" and status.available == ["v1", "v2"]
    assert [(d.action, d.version, d.actor) for d in status.history] == [
        ("deploy", "v1", "ana"),
        ("deploy", "v2", "ana"),
        ("rollback", "v1", "bo"),
    ]


def test_a_version_that_cannot_load_is_refused_and_nothing_changes(ctx) -> None:
    deploy_model(ctx, "v1", actor="ana", serving=SERVING)
    events: list[ProgressEvent] = []
    with pytest.raises(B2BRecError) as refused:
        deploy_model(ctx, "20990101-000000-dead", actor="ana", serving=SERVING, on_event=events.append)
    assert refused.value.http_status == 404
    assert events[-1].kind == "error" and events[-1].data["code"] == refused.value.code
    assert model_status(ctx).live == "v1" and len(model_status(ctx).history) == 1


def test_rollback_without_a_previous_version_says_so(ctx) -> None:
    with pytest.raises(B2BRecError, match="no previous version"):
        rollback_model(ctx, actor="ana", serving=SERVING)


def test_cli_model_commands_render_the_service(ctx, settings: Settings) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    env = {"B2BREC_HOME": str(settings.home), "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir)}
    runner = CliRunner()
    done = runner.invoke(app, ["model", "deploy", "--client", "demo-dev", "--version", "v2", "--reason", "r"], env=env)
    assert done.exit_code == 0, done.output
    assert "check: model v2 answers" in done.output and "v2 is live" in done.output
    shown = runner.invoke(app, ["model", "status", "--client", "demo-dev"], env=env)
    assert shown.exit_code == 0 and "live: v2" in shown.output
    refused = runner.invoke(app, ["model", "rollback", "--client", "demo-dev"], env=env)
    assert refused.exit_code == 2 and "live_version_error" in refused.output
