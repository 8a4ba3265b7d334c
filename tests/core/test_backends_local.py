"""Local backends are real software: DuckDB, a folder via fsspec, Fernet, subprocesses."""

from __future__ import annotations

import stat
import textwrap
from datetime import date
from pathlib import Path

import pytest

from b2brec.backends.jobs import JobSpec, JobState, SubprocessJobRunner, wait
from b2brec.backends.secrets import LocalSecretStore, SecretError, SecretNotFound
from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import DuckDBWarehouse, to_duckdb_sql


def test_object_store_roundtrip_and_listing(tmp_path: Path) -> None:
    store = ObjectStore((tmp_path / "bucket").as_uri())
    store.write_text("datasets/run1/metadata.json", '{"rows": 3}')
    store.write_bytes("datasets/run1/part-0.bin", b"\x00\x01")
    assert store.read_text("datasets/run1/metadata.json") == '{"rows": 3}'
    assert store.list("datasets") == ["datasets/run1/metadata.json", "datasets/run1/part-0.bin"]
    assert store.url("datasets/run1") == f"{(tmp_path / 'bucket').as_uri()}/datasets/run1"
    store.delete("datasets/run1", recursive=True)
    assert store.list() == []
    with pytest.raises(ValueError, match="must not contain '..'"):
        store.read_text("../outside")


def test_bigquery_sql_runs_on_duckdb(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb")
    warehouse.ensure_datasets()
    assert warehouse.table_exists("raw_data", "t") is False
    warehouse.execute("CREATE TABLE raw_data.t (id STRING, ts TIMESTAMP, revenue FLOAT64)")
    warehouse.execute(
        "INSERT INTO raw_data.t VALUES ('a', TIMESTAMP '2026-01-01 10:00:00', 2.5),"
        " ('b', TIMESTAMP '2026-03-01 10:00:00', 4.0)"
    )
    # BigQuery-only syntax: DATE_SUB with INTERVAL, TIMESTAMP_TRUNC, SAFE_DIVIDE and @named parameters.
    sql = """
        SELECT id, TIMESTAMP_TRUNC(ts, MONTH) AS month, SAFE_DIVIDE(revenue, 0) AS ratio
        FROM raw_data.t
        WHERE DATE(ts) >= DATE_SUB(@cutoff, INTERVAL 30 DAY)
    """
    rows = warehouse.query(sql, {"cutoff": date(2026, 3, 15)}).to_pylist()
    assert [r["id"] for r in rows] == ["b"]
    assert rows[0]["ratio"] is None
    assert warehouse.table_exists("raw_data", "t") is True
    assert "$cutoff" in to_duckdb_sql("SELECT @cutoff")


def test_secrets_are_encrypted_private_and_named_in_errors(tmp_path: Path) -> None:
    store = LocalSecretStore(tmp_path / "p" / "secrets.enc", tmp_path / "keys" / "p.key")
    store.put("erp-password", "s3cr3t-value-xyz")
    assert store.get("erp-password") == "s3cr3t-value-xyz"
    assert b"s3cr3t-value-xyz" not in (tmp_path / "p" / "secrets.enc").read_bytes()
    assert stat.S_IMODE((tmp_path / "keys" / "p.key").stat().st_mode) == 0o600
    with pytest.raises(SecretNotFound, match="secret 'other' is not set"):
        store.get("other")
    with pytest.raises(SecretError, match="use letters, digits"):
        store.put("bad name!", "x")
    wrong_key = LocalSecretStore(tmp_path / "p" / "secrets.enc", tmp_path / "keys" / "other.key")
    with pytest.raises(SecretError, match="does not match"):
        wrong_key.get("erp-password")


def _module(tmp_path: Path, name: str, body: str) -> dict[str, str]:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    return {"PYTHONPATH": str(tmp_path)}


def test_subprocess_job_succeeds_and_fails_with_reason(tmp_path: Path) -> None:
    env = _module(tmp_path, "stage_ok", "import sys\nprint('args', sys.argv[1:])\n")
    runner = SubprocessJobRunner(tmp_path / "jobs")
    job = runner.submit(JobSpec(name="extract", module="stage_ok", args=("--out", "file:///x"), env=env))
    assert wait(runner, job, timeout=60, poll=0.1).state is JobState.SUCCEEDED
    assert "args ['--out', 'file:///x']" in runner.logs(job)

    env = _module(tmp_path, "stage_bad", "raise SystemExit('window has no data')\n")
    job = runner.submit(JobSpec(name="train", module="stage_bad", env=env))
    status = wait(runner, job, timeout=60, poll=0.1)
    assert status.state is JobState.FAILED
    assert "window has no data" in status.message


def test_subprocess_job_cancel(tmp_path: Path) -> None:
    env = _module(tmp_path, "stage_slow", "import time\ntime.sleep(60)\n")
    runner = SubprocessJobRunner(tmp_path / "jobs")
    job = runner.submit(JobSpec(name="slow", module="stage_slow", env=env))
    assert runner.status(job).state is JobState.RUNNING
    runner.cancel(job)
    assert wait(runner, job, timeout=30, poll=0.1).state in {JobState.CANCELLED, JobState.FAILED}


def test_a_query_waits_while_another_process_holds_the_warehouse(tmp_path: Path) -> None:
    """DuckDB lets one process write and no one read beside it; the platform's processes open the file
    per call, so a reader that meets a writer's short hold waits for it instead of failing."""
    import subprocess
    import sys
    import time

    from b2brec.backends.warehouse import DuckDBWarehouse

    path = tmp_path / "w.duckdb"
    DuckDBWarehouse(path).execute("CREATE TABLE t AS SELECT 42 AS x")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(1.5)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        started = time.monotonic()
        assert DuckDBWarehouse(path, read_only=True).query("SELECT x FROM t").column("x").to_pylist() == [42]
        assert time.monotonic() - started > 0.3  # it did wait for the holder to let go
    finally:
        holder.wait(timeout=30)
        holder.stdout.close()
