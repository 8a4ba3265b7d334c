"""Crash safety: the load process is SIGKILLed at different points, repeatedly, while the source
keeps changing; the next run leaves the warehouse exactly equal to the source."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Literal

import dlt
import pytest
from dlt.pipeline.exceptions import CannotRestorePipelineException

from b2brec.context import context_for_spec
from b2brec.etl import run_etl
from b2brec.etl.destination import PIPELINE_NAME
from b2brec.etl.recovery import LEDGER_KEY
from b2brec.settings import Settings
from tests.etl.conftest import Client, make_client
from tests.etl.sourcedb import BASE_TIME, insert_sales, source_sales, update_sales, warehouse_sales

ROWS = 30_000
# Kill points: fractions of a measured uninterrupted run (they land in imports, reflection and
# extraction whatever the machine's load), and moments read from dlt's folders: a package
# committed by extract (normalisation next), normalized (loading next), a load job started or
# completed (loading under way: the package must be aborted, not resumed, see
# b2brec.etl.recovery), plus a delay in seconds. Extraction is fast (ConnectorX), so the
# package phases are too short to hit by timing alone.
Stage = Literal["extracted", "normalized", "job started", "job completed"]
KILL_POINTS: tuple[float | tuple[Stage, float], ...] = (
    0.3,
    ("normalized", 0.0),
    ("job started", 0.0),
    0.5,
    ("extracted", 0.0),
    ("job completed", 0.0),
    0.7,
    ("normalized", 0.15),
    0.85,
    ("job started", 0.0),
)
STAGE_GLOBS: dict[Stage, str] = {
    "extracted": "normalize/extracted/*",
    "normalized": "load/normalized/*",
    "job started": "load/normalized/*/started_jobs/*",
    "job completed": "load/normalized/*/completed_jobs/*",
}


def _etl(client: Client, *, full_refresh: bool = False) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "B2BREC_HOME": str(client.settings.home),
        # the operator allow-list that lets this test client reach the machine's own database server
        "B2BREC_SOURCE_HOSTS_ALLOWED": json.dumps(client.settings.source_hosts_allowed),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "b2brec.etl", client.spec.client_id, *(["--full-refresh"] if full_refresh else [])],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _aborted_packages(client: Client) -> int:
    """Packages the recovery aborted rather than resumed (their loading had started)."""
    pipeline = dlt.attach(PIPELINE_NAME, pipelines_dir=str(client.project.etl_dir))
    completed = pipeline.list_completed_load_packages()
    return sum(pipeline.get_load_package_info(load_id).state == "aborted" for load_id in completed)


def _pending(client: Client) -> bool:
    """Did the killed run leave a load package half-way (extracted or normalized, not loaded)?"""
    try:
        pipeline = dlt.attach(PIPELINE_NAME, pipelines_dir=str(client.project.etl_dir))
    except CannotRestorePipelineException:  # killed before the first state was saved
        return False
    return bool(pipeline.has_pending_data)


@pytest.fixture(params=["postgresql", "mariadb"])
def big_client(request: pytest.FixtureRequest, settings: Settings) -> Client:
    url = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return make_client(settings, url, f"crash-{request.param}", sales=ROWS)


def _packages(client: Client, stage: Stage) -> set[str]:
    """The packages (or their job files) at ``stage`` right now."""
    while True:
        try:
            return {str(p) for p in (client.project.etl_dir / PIPELINE_NAME).glob(STAGE_GLOBS[stage])}
        except FileNotFoundError:  # dlt moved a package folder while we listed it: look again
            continue


def _wait_for_stage(client: Client, process: subprocess.Popen[bytes], stage: Stage) -> None:
    """Return as soon as a new package (or job) reaches ``stage`` (or the process ends)."""
    before = _packages(client, stage)
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if _packages(client, stage) - before:
            return
        time.sleep(0.002)


def _kill_at(client: Client, point: float | tuple[Stage, float], full_run: float, *, full_refresh: bool) -> str:
    process = _etl(client, full_refresh=full_refresh)
    if isinstance(point, tuple):
        stage, delay = point
        _wait_for_stage(client, process, stage)
        time.sleep(delay)
    else:
        time.sleep(point * full_run)
    if process.poll() is not None:
        _, stderr = process.communicate()
        assert process.returncode == 0, stderr.decode()
        return "finished"
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)  # reaps it and closes its stderr pipe
    return "killed, package pending" if _pending(client) else "killed"


def test_killed_loads_recover_to_an_exact_copy(big_client: Client) -> None:
    client = big_client
    started = time.monotonic()
    baseline = _etl(client, full_refresh=True)
    _, stderr = baseline.communicate(timeout=300)
    assert baseline.returncode == 0, stderr.decode()
    full_run = time.monotonic() - started

    outcomes: list[str] = []
    next_line = ROWS + 1
    for round_, point in enumerate(KILL_POINTS):
        # Full refreshes (drop and reload everything: the most work to interrupt), and in the last
        # round an incremental run over the rows changed since.
        last = round_ == len(KILL_POINTS) - 1
        outcomes.append(_kill_at(client, point, full_run, full_refresh=not last))
        # The source keeps changing between attempts: new lines and corrected old ones.
        when = BASE_TIME + timedelta(days=10 + round_)
        insert_sales(client.url, next_line, 500, updated_at=when)
        update_sales(client.url, list(range(1 + round_ * 100, 51 + round_ * 100)), updated_at=when + timedelta(hours=1))
        next_line += 500

    final = _etl(client)
    _, stderr = final.communicate(timeout=300)
    assert final.returncode == 0, stderr.decode()

    print("kill outcomes:", outcomes)
    # Evidence that the kills really interrupted work, at least one inside a load package.
    assert sum(o.startswith("killed") for o in outcomes) >= 5, outcomes
    assert outcomes.count("killed, package pending") >= 2, outcomes
    aborted = _aborted_packages(client)
    print("packages aborted by recovery:", aborted)
    assert aborted >= 1, "no kill landed while loading: the abort path was not exercised"

    source = source_sales(client.url)
    loaded, rows = warehouse_sales(client.project.warehouse_path)
    assert rows == len(loaded), f"{rows - len(loaded)} duplicate keys"
    assert set(source) - set(loaded) == set(), "missing keys"
    assert set(loaded) - set(source) == set(), "extra keys"
    assert loaded == source


@pytest.mark.parametrize("scratch_disk", [False, True], ids=["same-disk", "fresh-disk"])
def test_a_full_refresh_killed_while_loading_is_redone_in_full(big_client: Client, scratch_disk: bool) -> None:
    """Its tables may already be dropped while the watermarks are the old ones: the next run (asked
    for incremental) must reload them in full and say so in the run history. ``fresh-disk`` also
    wipes dlt's local folder, as a new Cloud Run job starts with an empty disk."""
    client = big_client
    first = _etl(client)
    _, stderr = first.communicate(timeout=300)  # communicate() also closes the pipe
    assert first.returncode == 0, stderr.decode()
    assert _kill_at(client, ("job started", 0.0), 0.0, full_refresh=True) == "killed, package pending"
    ledger = client.project.storage("data")
    assert ledger.exists(LEDGER_KEY), "a full refresh records its tables before it starts"
    if scratch_disk:
        shutil.rmtree(client.project.etl_dir)
    insert_sales(client.url, ROWS + 1, 300, updated_at=BASE_TIME + timedelta(days=30))

    summary = run_etl(context_for_spec(client.spec, client.settings))

    loaded, rows = warehouse_sales(client.project.warehouse_path)
    assert rows == len(loaded) == ROWS + 300, f"{rows} rows, {len(loaded)} keys"
    assert loaded == source_sales(client.url)
    assert summary.full_refresh, "the run after an unfinished full refresh must say it reloaded in full"
    assert not ledger.exists(LEDGER_KEY), "the ledger is cleared once the reload succeeded"


def test_a_kill_inside_an_atomic_write_does_not_break_the_next_run(client: Client) -> None:
    """dlt writes its state and schemas to a temporary 16-hex file, then renames it; a kill between
    the two left that file in ``schemas/``, where dlt read it as a schema named after it and every
    later run failed with InvalidSchemaName (seen in CI). The next run removes such leftovers."""
    first = run_etl(context_for_spec(client.spec, client.settings))
    pipeline_dir = client.project.etl_dir / PIPELINE_NAME
    leftovers = [pipeline_dir / "schemas" / "72ae69fe95308b04", pipeline_dir / "0123456789abcdef"]
    for leftover in leftovers:
        leftover.write_text('{"half": "written')
    insert_sales(client.url, 1001, 25, updated_at=BASE_TIME + timedelta(days=30))

    second = run_etl(context_for_spec(client.spec, client.settings))

    assert not any(leftover.exists() for leftover in leftovers)
    assert (pipeline_dir / "schemas").is_dir() and any((pipeline_dir / "schemas").iterdir()), "real schemas are kept"
    loaded, rows = warehouse_sales(client.project.warehouse_path)
    assert rows == len(loaded) == 1025
    assert loaded == source_sales(client.url)
    assert not first.full_refresh and not second.full_refresh


def test_an_abort_cut_short_is_finished_before_the_next_extraction(big_client: Client) -> None:
    """A run killed inside the recovery's abort leaves the package flagged for abort and still
    pending (dlt persists the flag first). dlt's ``has_pending_data`` does not count such a package,
    and dlt finishes the abort in the next ``load()``, deleting every newer package: if the next
    run extracted first, its own full refresh was deleted unloaded, its ledger cleared, and the
    dropped tables stayed empty (keys missing in CI; reproduced by a kill loop)."""
    client = big_client
    first = _etl(client)
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr.decode()
    assert _kill_at(client, ("job started", 0.0), 0.0, full_refresh=True) == "killed, package pending"
    # What ``abort_packages()`` writes before its load() aborts the package: the kill landed here.
    pipeline = dlt.attach(PIPELINE_NAME, pipelines_dir=str(client.project.etl_dir))
    (pending,) = pipeline.list_normalized_load_packages()
    pipeline._get_load_storage().normalized_packages.set_abort_flag(pending)
    insert_sales(client.url, ROWS + 1, 300, updated_at=BASE_TIME + timedelta(days=30))

    summary = run_etl(context_for_spec(client.spec, client.settings))

    loaded, rows = warehouse_sales(client.project.warehouse_path)
    assert rows == len(loaded), f"{rows - len(loaded)} duplicate keys"
    assert loaded == source_sales(client.url)
    assert summary.full_refresh
    assert _aborted_packages(client) == 1
