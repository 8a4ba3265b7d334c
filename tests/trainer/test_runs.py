"""Pipeline runs driven by short calls from separate processes, as Celery tasks would: a driver
killed with SIGKILL mid-run is replaced and the run completes with one job per stage; drivers
racing on one run submit nothing twice; cancel, resume and a crash between claiming a stage and
recording its job. Stage jobs are real subprocesses (quick stage entrypoints, see quick_stages)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from b2brec.backends.jobs import JobState
from b2brec.progress import ProgressEvent
from b2brec.projects.local import LocalClientProject, create_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from tests.conftest import REPO_ROOT
from tests.trainer.run_driver import quick_context
from trainer import runs
from trainer.errors import PipelineError
from trainer.pipeline import run_pipeline
from trainer.run_context import PipelineContext
from trainer.runs import RunRecord, RunStatus, StageStatus

pytestmark = pytest.mark.slow


@pytest.fixture
def project(settings: Settings) -> LocalClientProject:
    return create_project(load_environment(settings.environments_dir, "demo-dev"), settings)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "stage-log"
    folder.mkdir()
    return folder


def _driver(settings: Settings, project: LocalClientProject, run_id: str, log_dir: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "tests.trainer.run_driver", str(settings.home), project.project_id, run_id]
    return subprocess.Popen([*argv, str(log_dir)], cwd=REPO_ROOT, stdout=subprocess.DEVNULL)


def _until(check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _job_dirs(project: LocalClientProject) -> list[str]:
    return sorted(p.name for p in (project.root / "jobs").iterdir())


def _assert_metered(record: RunRecord) -> None:
    for stage in record.stages:
        job = stage.job
        assert job is not None and job.job_id and job.state == JobState.SUCCEEDED
        assert job.machine_type == "n1-standard-8" and job.accelerator_count == 0
        assert job.started_at and job.ended_at and job.seconds is not None
        # the quick stage sleeps 1.5 s, so each job's metered time covers at least that
        assert 1.5 <= job.seconds < 60, (stage.name, job.seconds)
        assert datetime.fromisoformat(job.started_at).tzinfo is not None


def test_a_killed_driver_is_replaced_and_the_run_completes(
    settings: Settings, project: LocalClientProject, log_dir: Path
) -> None:
    ctx = quick_context(settings, project.project_id, log_dir)
    run_id = runs.start_run(ctx).run_id
    first = _driver(settings, project, run_id, log_dir)
    _until(lambda: runs.load_run(ctx, run_id).stage("vocab").status is StageStatus.RUNNING)
    first.send_signal(signal.SIGKILL)  # the worker dies while vocab's job runs
    first.wait(timeout=30)
    assert runs.load_run(ctx, run_id).status is RunStatus.RUNNING

    second = _driver(settings, project, run_id, log_dir)
    assert second.wait(timeout=180) == 0
    record = runs.poll(ctx, run_id)
    assert record.status is RunStatus.SUCCEEDED
    assert [(s.status, s.attempt) for s in record.stages] == [(StageStatus.SUCCEEDED, 1)] * 4
    assert len(_job_dirs(project)) == 4  # one job per stage: the crash submitted nothing twice
    assert [line.split()[0] for line in (log_dir / "log").read_text().splitlines()] == [
        "extract",
        "vocab",
        "train",
        "register",
    ]
    _assert_metered(record)


def test_racing_drivers_submit_each_stage_once(settings: Settings, project: LocalClientProject, log_dir: Path) -> None:
    ctx = quick_context(settings, project.project_id, log_dir)
    run_id = runs.start_run(ctx).run_id
    drivers = [_driver(settings, project, run_id, log_dir) for _ in range(3)]
    assert [d.wait(timeout=240) for d in drivers] == [0, 0, 0]
    record = runs.load_run(ctx, run_id)
    assert record.status is RunStatus.SUCCEEDED
    assert [s.attempt for s in record.stages] == [1, 1, 1, 1]
    assert len(_job_dirs(project)) == 4
    assert len((log_dir / "log").read_text().splitlines()) == 4


def test_cancel_stops_the_job_and_resume_runs_it_again(
    settings: Settings, project: LocalClientProject, log_dir: Path
) -> None:
    ctx = quick_context(settings, project.project_id, log_dir, QUICK_STAGE_SLEEP="60")
    run_id = runs.start_run(ctx).run_id
    record = runs.advance(ctx, run_id)
    extract = record.stage("extract")
    assert extract.status is StageStatus.RUNNING and extract.job is not None and extract.job.job_id
    job_id = extract.job.job_id
    assert runs.advance(ctx, run_id).stage("extract").status is StageStatus.RUNNING  # short: does not wait

    cancelled = runs.cancel(ctx, run_id)
    assert cancelled.status is RunStatus.CANCELLED and cancelled.stage("extract").status is StageStatus.CANCELLED
    _until(lambda: ctx.jobs.status(job_id).state.done, timeout=30)  # the 60 s job was stopped
    assert ctx.jobs.status(job_id).state is JobState.CANCELLED
    assert runs.advance(ctx, run_id).status is RunStatus.CANCELLED  # nothing moves a cancelled run

    quick = replace(ctx, env={**ctx.env, "QUICK_STAGE_SLEEP": "0"}, poll=0.1)
    resumed = runs.resume(quick, run_id)
    assert resumed.status is RunStatus.RUNNING and resumed.stage("extract").status is StageStatus.PENDING
    done = run_pipeline(quick, run_id=run_id)
    assert done.status is RunStatus.SUCCEEDED
    extract = done.stage("extract")
    assert extract.attempt == 2 and [j.state for j in extract.earlier_jobs] == [JobState.CANCELLED]
    assert len(done.jobs()) == 5  # the cancelled job is kept for metering
    metered = runs.metered_jobs(quick)
    assert [(m["stage"], m["attempt"], m["state"]) for m in metered] == [
        ("extract", 1, "cancelled"),
        ("extract", 2, "succeeded"),
        ("vocab", 1, "succeeded"),
        ("train", 1, "succeeded"),
        ("register", 1, "succeeded"),
    ]
    assert all(m["seconds"] >= 0 and m["machine_type"] == "n1-standard-8" for m in metered)


def test_failed_stage_resumes_where_it_failed(settings: Settings, project: LocalClientProject, log_dir: Path) -> None:
    ctx = replace(quick_context(settings, project.project_id, log_dir, QUICK_STAGE_FAIL="train"), poll=0.1)
    events: list[ProgressEvent] = []
    with pytest.raises(PipelineError, match=r"stage train of run \S+ failed: train found no usable rows"):
        run_pipeline(ctx, on_event=events.append)
    (record,) = runs.list_runs(ctx)
    assert record.status is RunStatus.FAILED and record.failed_stage == "train"
    assert [s.status for s in record.stages] == [StageStatus.SUCCEEDED] * 2 + [StageStatus.FAILED, StageStatus.PENDING]
    seen = [(e.stage, e.kind, e.done, e.total) for e in events]
    assert ("vocab", "done", 2, 4) in seen and ("train", "error", 2, 4) == seen[-1]
    assert "train found no usable rows" in events[-1].message and events[-1].data["job_id"]
    with pytest.raises(PipelineError, match="has not succeeded yet; resume from train first"):
        runs.resume(ctx, record.run_id, from_stage="register")

    (log_dir / "fixed").touch()
    done = run_pipeline(ctx, run_id=record.run_id)
    assert done.status is RunStatus.SUCCEEDED
    assert [s.attempt for s in done.stages] == [1, 1, 2, 1]  # extract and vocab were kept
    with pytest.raises(PipelineError, match="already succeeded"):
        run_pipeline(ctx, run_id=record.run_id)


def _claim_only(ctx: PipelineContext, run_id: str) -> RunRecord:
    """What a driver killed right after claiming the first stage leaves behind."""
    record = runs.load_run(ctx, run_id)
    claimed = runs._claim(ctx, run_id, "extract", record.generation)
    assert claimed is not None and claimed.stage("extract").status is StageStatus.SUBMITTING
    return claimed


def test_a_job_submitted_by_a_dead_driver_is_adopted(
    settings: Settings, project: LocalClientProject, log_dir: Path
) -> None:
    ctx = quick_context(settings, project.project_id, log_dir)
    run_id = runs.start_run(ctx).run_id
    claimed = _claim_only(ctx, run_id)
    # ... it even submitted the job, then died before recording the job id
    job_id = ctx.jobs.submit(runs._job_spec(ctx, claimed, claimed.stage("extract")))
    record = runs.advance(ctx, run_id)
    assert record.stage("extract").job is not None and record.stage("extract").job.job_id == job_id
    assert record.stage("extract").attempt == 1 and len(_job_dirs(project)) == 1


def test_a_claim_left_by_a_dead_driver_expires(settings: Settings, project: LocalClientProject, log_dir: Path) -> None:
    ctx = replace(quick_context(settings, project.project_id, log_dir), claim_lease=30.0)
    run_id = runs.start_run(ctx).run_id
    _claim_only(ctx, run_id)
    # within the lease another driver may still be submitting: leave it alone
    assert runs.advance(ctx, run_id).stage("extract").status is StageStatus.SUBMITTING
    assert not (project.root / "jobs").exists() or _job_dirs(project) == []
    record = runs.advance(replace(ctx, claim_lease=0.0), run_id)  # the lease is over: claim again
    extract = record.stage("extract")
    assert extract.status is StageStatus.RUNNING and extract.attempt == 2 and len(_job_dirs(project)) == 1


def test_unknown_runs_and_bad_ids_are_refused(settings: Settings, project: LocalClientProject, log_dir: Path) -> None:
    ctx = quick_context(settings, project.project_id, log_dir)
    with pytest.raises(PipelineError, match="no pipeline run 'nope'") as missing:
        runs.poll(ctx, "nope")
    assert (missing.value.code, missing.value.http_status) == ("run_not_found", 404)
    with pytest.raises(PipelineError, match="is not valid") as bad_id:
        runs.start_run(ctx, run_id="../x")
    assert (bad_id.value.code, bad_id.value.http_status) == ("invalid_run", 422)
    with pytest.raises(PipelineError, match="is not a stage") as bad_stage:
        runs.start_run(ctx, until="deploy")
    assert bad_stage.value.http_status == 422
    runs.start_run(ctx, run_id="r1")
    with pytest.raises(PipelineError, match="already exists") as twice:
        runs.start_run(ctx, run_id="r1")
    assert twice.value.http_status == 409
    assert os.path.exists(project.storage("data").url("runs/r1/state.json").removeprefix("file://"))


def test_a_run_recorded_before_run_records_is_still_read(
    settings: Settings, project: LocalClientProject, log_dir: Path
) -> None:
    ctx = quick_context(settings, project.project_id, log_dir)
    legacy = {
        "run_id": "20261101-000000-abcd",
        "client": project.project_id,
        "status": "failed",
        "created_at": "2026-11-01T00:00:00+00:00",
        "options": {"epochs": 2},
        "failed_stage": "train",
        "reason": "train: no tracking server",
        "stages": {
            "extract": {
                "status": "succeeded",
                "job_id": "extract-1",
                "started_at": "2026-11-01T00:00:01+00:00",
                "finished_at": "2026-11-01T00:01:01+00:00",
                "outputs": {"dataset": "file:///d"},
            },
            "vocab": {"status": "succeeded", "job_id": "vocab-1"},
            "train": {"status": "failed", "job_id": "train-1", "reason": "no tracking server"},
            "register": {"status": "pending"},
        },
    }
    project.storage("data").write_text("runs/20261101-000000-abcd/state.json", json.dumps(legacy))
    record = runs.load_run(ctx, "20261101-000000-abcd")
    assert record.status is RunStatus.FAILED and record.failed_stage == "train"
    assert [s.status for s in record.stages] == [StageStatus.SUCCEEDED] * 2 + [StageStatus.FAILED, StageStatus.PENDING]
    extract = record.stage("extract")
    assert extract.job is not None and extract.job.seconds == 60.0 and extract.outputs == {"dataset": "file:///d"}
    resumed = runs.resume(ctx, record.run_id)  # and it resumes at train, now in the new format
    assert resumed.stage("train").status is StageStatus.PENDING and resumed.stage("train").attempt == 1


def test_the_cli_says_a_missing_run_is_not_found(settings: Settings, project: LocalClientProject) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    env = {"B2BREC_HOME": str(settings.home), "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir)}
    result = CliRunner().invoke(
        app, ["pipeline", "status", "--client", project.project_id, "--run-id", "nope"], env=env
    )
    assert result.exit_code == 2
    assert "error (run_not_found)" in result.output and "no pipeline run 'nope'" in result.output
