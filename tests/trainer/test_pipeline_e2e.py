"""The whole pipeline on a tiny warehouse, as subprocess jobs: a stage fails, the run resumes there."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from b2brec.bundle import read_bundle
from b2brec.context import context_for_spec
from b2brec.projects.local import LocalClientProject
from b2brec.settings import Settings
from tests.conftest import REPO_ROOT
from trainer import runs
from trainer.errors import PipelineError
from trainer.pipeline import RunOptions, context_for, load_run, run_pipeline
from trainer.runs import RunStatus, StageStatus

pytestmark = pytest.mark.slow
OPTIONS = RunOptions(window_days=30, test_days=7, epochs=2, batch_size=64, embedding_dim=16, model_name="tiny")


def test_failed_stage_is_recorded_and_the_run_resumes_from_it(
    settings: Settings, project: LocalClientProject, mlflow_project: LocalClientProject
) -> None:
    # First attempt: the tracking server is down, so the train stage fails after extract and vocab.
    down = context_for(context_for_spec(project.spec, settings), mlflow_uri="http://127.0.0.1:9")
    broken = dataclasses.replace(down, env={**down.env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    events: list[tuple[str, str]] = []
    with pytest.raises(PipelineError, match="stage train of run .* failed") as failure:
        run_pipeline(broken, options=OPTIONS, on_event=lambda e: events.append((e.stage, e.data["status"])))
    run_id = failure.value.message.split(" of run ")[1].split(" ")[0]
    state = load_run(broken, run_id)
    assert state.status is RunStatus.FAILED and state.failed_stage == "train"
    assert state.stage("train").error
    assert [state.stage(s).status for s in ("extract", "vocab", "register")] == [StageStatus.SUCCEEDED] * 2 + [
        StageStatus.PENDING
    ]
    assert broken.data.exists(f"datasets/{run_id}/vocabularies.json")
    assert ("train", "failed") in events
    extract_job = state.stage("extract").job

    # Resume with a real MLflow server: extract and vocab are kept, train and register run.
    uri = f"http://127.0.0.1:{mlflow_project.ports['mlflow']}"
    fixed = dataclasses.replace(broken, mlflow_uri=uri)
    state = run_pipeline(fixed, run_id=run_id)
    assert state.status is RunStatus.SUCCEEDED
    assert state.stage("extract").job == extract_job
    metrics = state.stage("train").outputs["metrics"]
    assert 0.0 < metrics["all/recall@100"] <= 1.0
    assert set(state.stage("train").outputs["baselines"]) == {
        "most_popular",
        "own_history",
        "ease",
        "als",
        "own_history+ease",
    }
    train_jobs = state.stage("train").jobs
    assert [j.state for j in train_jobs] == ["failed", "succeeded"]  # both attempts are metered
    assert all(j.started_at and j.ended_at and j.machine_type for j in state.jobs())

    bundle = read_bundle(fixed.models, run_id)
    assert bundle.manifest.version == run_id
    # the default cutoff (after the latest sale): serving reads the warehouse history up to now
    assert bundle.manifest.extra["history_until"] is None and "cutoff_given" not in bundle.manifest.data_window
    assert bundle.customer_embeddings.shape[0] == bundle.customers.num_rows > 0
    assert bundle.ranking is not None and bundle.ranking.history.num_rows > 0
    quality = bundle.manifest.extra["quality"]
    assert (
        quality["metric"] == "all/recall@100" and quality["best_baseline"] in state.stage("train").outputs["baselines"]
    )
    for name in ("saved_model", "query_model", "candidate_model"):
        assert fixed.models.exists(f"{run_id}/{name}/saved_model.pb")

    client = MlflowClient(tracking_uri=uri)
    version = client.get_model_version("tiny", state.stage("register").outputs["registry_version"])
    assert version.tags["bundle_uri"] == fixed.models.url(f"{run_id}/serving")
    assert version.tags["model_version"] == run_id
    assert version.tags["quality.loses_to_baseline"] == str(quality["loses_to_baseline"]).lower()
    assert version.tags["quality.best_baseline"] == quality["best_baseline"]
    runs = client.search_runs([client.get_experiment_by_name("b2brec").experiment_id])
    assert {r.data.tags["role"] for r in runs} == {"model", "baseline"}

    with pytest.raises(PipelineError, match="already succeeded"):
        run_pipeline(fixed, run_id=run_id)


def test_empty_window_stops_before_training_with_a_clear_message(
    settings: Settings, project: LocalClientProject
) -> None:
    ctx = context_for(context_for_spec(project.spec, settings), mlflow_uri="http://127.0.0.1:9")
    with pytest.raises(PipelineError, match="no usable transactions between 2020"):
        run_pipeline(ctx, options=dataclasses.replace(OPTIONS, cutoff="2020-06-01"))


def test_a_worker_killed_mid_run_is_replaced_and_the_real_pipeline_completes(
    settings: Settings, mlflow_project: LocalClientProject
) -> None:
    """The Celery-style driver of test_runs.py on the real stages: SIGKILL while vocab runs, a new
    driver finishes the run, one job per stage, and the model is trained and registered."""
    uri = f"http://127.0.0.1:{mlflow_project.ports['mlflow']}"
    ctx = context_for(context_for_spec(mlflow_project.spec, settings), mlflow_uri=uri)
    run_id = runs.start_run(ctx, OPTIONS).run_id
    argv = [
        sys.executable,
        "-m",
        "tests.trainer.run_driver",
        str(settings.home),
        mlflow_project.project_id,
        run_id,
        uri,
    ]
    first = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while runs.load_run(ctx, run_id).stage("vocab").status is not StageStatus.RUNNING:
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    second = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    assert second.wait(timeout=900) == 0
    record = runs.poll(ctx, run_id)
    assert record.status is RunStatus.SUCCEEDED
    assert [s.attempt for s in record.stages] == [1, 1, 1, 1] and len(record.jobs()) == 4
    assert read_bundle(ctx.models, run_id).manifest.version == run_id
    assert record.stage("register").outputs["registry_version"]
