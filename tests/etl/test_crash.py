"""Crash safety: the load process is SIGKILLed at different points, repeatedly, while the source
keeps changing; the next run leaves the warehouse exactly equal to the source."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import dlt
import pytest
from dlt.pipeline.exceptions import CannotRestorePipelineException

from b2brec.etl.destination import PIPELINE_NAME
from b2brec.settings import Settings
from tests.etl.conftest import Client, make_client
from tests.etl.sourcedb import BASE_TIME, insert_sales, source_sales, update_sales, warehouse_sales

ROWS = 30_000
# Kill points as fractions of a measured uninterrupted run, so they land in imports,
# reflection, extraction, normalisation and loading whatever the machine's load.
KILL_AT = (0.3, 0.5, 0.62, 0.74, 0.83, 0.91, 0.97)
EXTRA_LATE_KILLS = (0.8, 0.86, 0.92, 0.98)


def _etl(client: Client, *, full_refresh: bool = False) -> subprocess.Popen[bytes]:
    env = {**os.environ, "B2BREC_HOME": str(client.settings.home)}
    return subprocess.Popen(
        [sys.executable, "-m", "b2brec.etl", client.spec.client_id, *(["--full-refresh"] if full_refresh else [])],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _pending(client: Client) -> bool:
    """Did the killed run leave a load package half-way (extracted or normalized, not loaded)?"""
    try:
        pipeline = dlt.attach(PIPELINE_NAME, pipelines_dir=str(client.project.etl_dir))
    except CannotRestorePipelineException:  # killed before the first state was saved
        return False
    return bool(pipeline.has_pending_data)


@pytest.fixture
def big_client(settings: Settings, postgres_url: str) -> Client:
    return make_client(settings, postgres_url, "etl-crash", sales=ROWS)


def _kill_after(client: Client, delay: float, *, full_refresh: bool) -> str:
    process = _etl(client, full_refresh=full_refresh)
    time.sleep(delay)
    if process.poll() is not None:
        _, stderr = process.communicate()
        assert process.returncode == 0, stderr.decode()
        return "finished"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return "killed, package pending" if _pending(client) else "killed"


def test_killed_loads_recover_to_an_exact_copy(big_client: Client) -> None:
    client = big_client
    started = time.monotonic()
    baseline = _etl(client, full_refresh=True)
    assert baseline.wait(timeout=300) == 0
    full_run = time.monotonic() - started

    outcomes: list[str] = []
    next_line = ROWS + 1
    kill_points = list(KILL_AT)
    round_ = 0
    while kill_points:
        fraction = kill_points.pop(0)
        # Full refreshes (drop and reload everything: the most work to interrupt) until the last
        # planned round, which is an incremental run over the rows changed since.
        outcomes.append(_kill_after(client, fraction * full_run, full_refresh=bool(kill_points)))
        if not kill_points and "killed, package pending" not in outcomes and round_ < len(KILL_AT) + 3:
            kill_points.append(EXTRA_LATE_KILLS[round_ - len(KILL_AT) + 1])  # aim later until a load is hit
        # The source keeps changing between attempts: new lines and corrected old ones.
        when = BASE_TIME + timedelta(days=10 + round_)
        insert_sales(client.url, next_line, 500, updated_at=when)
        update_sales(client.url, list(range(1 + round_ * 100, 51 + round_ * 100)), updated_at=when + timedelta(hours=1))
        next_line += 500
        round_ += 1

    final = _etl(client)
    _, stderr = final.communicate(timeout=300)
    assert final.returncode == 0, stderr.decode()

    print("kill outcomes:", outcomes)
    # Evidence that the kills really interrupted work, at least one inside a load package.
    assert sum(o.startswith("killed") for o in outcomes) >= 4, outcomes
    assert "killed, package pending" in outcomes, outcomes

    source = source_sales(client.url)
    loaded, rows = warehouse_sales(client.project.warehouse_path)
    assert rows == len(loaded), f"{rows - len(loaded)} duplicate keys"
    assert set(source) - set(loaded) == set(), "missing keys"
    assert set(loaded) - set(source) == set(), "extra keys"
    assert loaded == source
