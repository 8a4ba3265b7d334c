"""ETL -> extractor on a warehouse written by the real ETL (dlt, TIMESTAMPTZ), on a machine in New York.

The source holds sales at hand-picked UTC instants around the window's edges. Both steps run as the
job runner runs them (``python -m b2brec.etl``, ``python -m trainer.extractor``) in subprocesses with
``TZ=America/New_York``. The window is ``[2026-01-30, 2026-03-01)`` UTC (cutoff 2026-03-01, 30 days)
and the test period starts 2026-02-22 (7 days). Were the bounds bound as naive datetimes, DuckDB would
read them in New York time (UTC-5): the cutoff would move to 05:00 UTC and let in the two sales
between 00:00 and 05:00 on March 1st, and the window start would drop the sale at 02:00 on Jan 30th.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from b2brec.projects.local import create_project, upload_area
from b2brec.settings import Settings
from b2brec.spec import parse_spec
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

NEW_YORK = "America/New_York"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (transaction id, customer, product, sold at in UTC, where it must land)
EDGES = [
    (1, "C1", "P1", "2026-01-29T23:00:00", None),  # before the window start
    (2, "C1", "P2", "2026-01-30T02:00:00", "train"),  # just after the start (New York: still Jan 29th)
    (3, "C2", "P1", "2026-02-21T23:00:00", "train"),  # the last hour before the test period
    (4, "C2", "P3", "2026-02-22T01:00:00", "test"),  # the first hours of the test period
    (5, "C3", "P2", "2026-02-28T23:30:00", "test"),  # the last half hour before the cutoff
    (6, "C3", "P3", "2026-03-01T00:30:00", None),  # after the cutoff (New York: still Feb 28th)
    (7, "C1", "P3", "2026-03-01T04:00:00", None),  # after the cutoff (New York: 23:00 on Feb 28th)
]
# Ordinary sales in both periods, so every customer and product is seen in training.
BULK = [
    (100 + i, f"C{1 + i % 3}", f"P{1 + i % 3}", f"2026-02-{5 + i:02d}T12:00:00", "train" if 5 + i < 22 else "test")
    for i in range(20)
]


def _write_source(folder: Path) -> None:
    folder.mkdir(parents=True)
    with (folder / "products.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price"])
        writer.writerows([["P1", "Water", 0.5], ["P2", "Rice", 2.25], ["P3", "Oil", 4.0]])
    with (folder / "sales.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "cust", "sku", "qty", "amount", "sold_at"])
        for line_id, customer, product, sold_at, _ in EDGES + BULK:
            writer.writerow([line_id, customer, product, 2, 10.0, f"{sold_at}Z"])


def _spec():
    return parse_spec(
        {
            "client_id": "tz-check",
            "name": "TZ Check",
            "env": "dev",
            "region": "europe-west1",
            "created": "2026-11-26",
            "sources": {"export": {"kind": "csv", "path": "export"}},  # in the client's upload area
            "mapping": {
                "products": {
                    "source": "export",
                    "table": "products",
                    "columns": {"product_id": "sku", "price": "price"},
                },
                "transactions": {
                    "source": "export",
                    "table": "sales",
                    "columns": {
                        "transaction_id": "id",
                        "customer_id": "cust",
                        "product_id": "sku",
                        "quantity": "qty",
                        "revenue": "amount",
                        "timestamp": "sold_at",
                    },
                },
            },
        },
        origin="test",
    )


def _run(args: list[str], settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TZ": NEW_YORK,
        "B2BREC_HOME": str(settings.home),
        "PYTHONPATH": str(REPO_ROOT),
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    done = subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _timestamps(split_dir: Path) -> list[int]:
    import tensorflow as tf

    files = sorted(str(p) for p in split_dir.glob("*.tfrecord.gz"))
    stamps = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        stamps.append(int(example.features.feature["timestamp"].int64_list.value[0]))
    return sorted(stamps)


def test_the_window_is_utc_when_the_machine_is_in_new_york(settings: Settings, tmp_path: Path) -> None:
    spec = _spec()
    project = create_project(spec, settings)
    _write_source(upload_area(spec, settings) / "export")

    # 1. The real ETL job writes the warehouse (dlt -> DuckDB, TIMESTAMPTZ).
    loaded = json.loads(_run(["-m", "b2brec.etl", project.project_id], settings).stdout.strip().splitlines()[-1])
    assert {t["table"]: t["rows_written"] for t in loaded["tables"]} == {"products": 3, "transactions": 27}
    stored = project.warehouse().query("SELECT MAX(`timestamp`) AS latest FROM raw_data.transactions")
    assert stored.column("latest")[0].as_py() == _utc("2026-03-01T04:00:00")  # the instant, not a wall clock

    # 2. The extractor reads the window from that warehouse.
    output = tmp_path / "dataset"
    _run(
        [
            "-m",
            "trainer.extractor",
            f"--warehouse=duckdb://{project.warehouse_path}",
            f"--output={output.as_uri()}",
            "--cutoff=2026-03-01",
            "--window-days=30",
            "--test-days=7",
            "--revenue-coverage=1.0",
            "--min-customers=1",
            "--min-products=1",
        ],
        settings,
    )
    expected = {
        split: sorted(int(_utc(at).timestamp()) for _, _, _, at, where in EDGES + BULK if where == split)
        for split in ("train", "test")
    }
    assert _timestamps(output / "train") == expected["train"]
    assert _timestamps(output / "test") == expected["test"]
    metadata = json.loads((output / "metadata.json").read_text())
    assert metadata["window"]["start"] == "2026-01-30T00:00:00+00:00"
    assert metadata["window"]["test_start"] == "2026-02-22T00:00:00+00:00"
    assert metadata["window"]["cutoff"] == "2026-03-01T00:00:00+00:00"
    assert metadata["window"]["cutoff_given"] is True  # a backtest: serving stops its history there too
    assert metadata["date_ranges"]["test"]["last"] == "2026-02-28T23:30:00+00:00"
    assert metadata["date_ranges"]["train"]["first"] == "2026-01-30T02:00:00+00:00"


def test_the_default_cutoff_is_midnight_utc_after_the_latest_sale(settings: Settings, tmp_path: Path) -> None:
    """default_cutoff on the ETL'd warehouse, in a New York process: the latest sale is 04:00 UTC on
    March 1st (23:00 on Feb 28th in New York), so the default cutoff is March 2nd, 00:00 UTC."""
    spec = _spec()
    project = create_project(spec, settings)
    _write_source(upload_area(spec, settings) / "export")
    _run(["-m", "b2brec.etl", project.project_id], settings)
    probe = (
        "from trainer.extractor.source import default_cutoff; "
        "from b2brec.backends.warehouse import warehouse_from_uri; "
        f"print(default_cutoff(warehouse_from_uri('duckdb://{project.warehouse_path}')).isoformat())"
    )
    assert _run(["-c", probe], settings).stdout.strip() == "2026-03-02T00:00:00+00:00"
