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

ROWS = 40_000
# Seconds after start at which the run is killed: during imports, reflection, extraction,
# normalisation and loading (a full uninterrupted run takes ~3-5 s here).
KILL_AFTER = (0.7, 1.6, 2.2, 2.7, 3.1, 3.6, 4.2)


def _etl(client: Client) -> subprocess.Popen[bytes]:
    env = {**os.environ, "B2BREC_HOME": str(client.settings.home)}
    return subprocess.Popen(
        [sys.executable, "-m", "b2brec.etl", client.spec.client_id],
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


def test_killed_loads_recover_to_an_exact_copy(big_client: Client) -> None:
    client = big_client
    outcomes: list[str] = []
    next_line = ROWS + 1
    for round_, delay in enumerate(KILL_AFTER):
        process = _etl(client)
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            outcomes.append("killed, package pending" if _pending(client) else "killed")
        else:
            assert process.returncode == 0, process.stderr.read().decode() if process.stderr else ""
            outcomes.append("finished")
        # The source keeps changing between attempts: new lines and corrected old ones.
        when = BASE_TIME + timedelta(days=10 + round_)
        insert_sales(client.url, next_line, 500, updated_at=when)
        update_sales(client.url, list(range(1 + round_ * 100, 51 + round_ * 100)), updated_at=when + timedelta(hours=1))
        next_line += 500

    final = _etl(client)
    _, stderr = final.communicate(timeout=180)
    assert final.returncode == 0, stderr.decode()

    print("kill outcomes:", outcomes)
    # Evidence that the kills really interrupted work, some of them inside a load package.
    assert outcomes.count("killed") + outcomes.count("killed, package pending") >= 4, outcomes
    assert "killed, package pending" in outcomes, outcomes

    source = source_sales(client.url)
    loaded, rows = warehouse_sales(client.project.warehouse_path)
    assert rows == len(loaded), f"{rows - len(loaded)} duplicate keys"
    assert set(source) - set(loaded) == set(), "missing keys"
    assert set(loaded) - set(source) == set(), "extra keys"
    assert loaded == source
