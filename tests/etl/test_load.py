"""Full, incremental and repeated loads from real PostgreSQL and MariaDB into the local warehouse."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from b2brec.backends.warehouse import DuckDBWarehouse
from b2brec.context import context_for_spec
from b2brec.etl import list_runs, run_etl
from b2brec.etl.mapping import key_is_unique
from b2brec.etl.sources import table_backend
from b2brec.progress import ProgressEvent
from b2brec.projects.local import create_project, upload_area
from b2brec.settings import Settings
from b2brec.spec import SourceKind, load_environment, parse_spec
from tests.etl.conftest import Client
from tests.etl.sourcedb import (
    BASE_TIME,
    create_erp,
    insert_sales,
    source_sales,
    update_sales,
    warehouse_count,
    warehouse_sales,
    with_changes,
)


def assert_warehouse_equals_source(client: Client) -> None:
    source = source_sales(client.url)
    loaded, rows = warehouse_sales(client.project.warehouse_path)
    assert rows == len(loaded), "duplicate transaction ids in the warehouse"
    assert set(loaded) == set(source), "missing or extra transaction ids"
    assert loaded == source, "values differ between source and warehouse"


def test_full_incremental_and_repeated_loads(client: Client) -> None:
    events: list[ProgressEvent] = []
    full = run_etl(context_for_spec(client.spec, client.settings), on_event=events.append)
    assert {t.table: t.rows_written for t in full.tables} == {"customers": 50, "products": 40, "transactions": 1000}
    assert full.table("transactions").mode == "merge"
    # 1,000 lines were written with updated_at = BASE_TIME + 0..999 s: that is the new watermark.
    assert full.table("transactions").watermark.startswith((BASE_TIME + timedelta(seconds=999)).isoformat())
    stages = [(e.stage, e.kind) for e in events]
    assert stages[:2] == [("check", "start"), ("check", "done")] and stages[-1] == ("etl", "done")
    assert {(e.stage, e.kind) for e in events} == {*stages[:2], ("extract", "advance"), *stages[-1:]} | {
        ("load", "start"),
        ("load", "done"),
    }
    written = {e.data["table"]: e.done for e in events if (e.stage, e.kind) == ("load", "done")}
    assert written == {t.table: t.rows_written for t in full.tables}
    assert events[-1].done == full.rows_written
    assert_warehouse_equals_source(client)

    later = BASE_TIME + timedelta(days=30)
    insert_sales(client.url, 1001, 100, updated_at=later)
    update_sales(client.url, list(range(1, 21)), updated_at=later + timedelta(hours=1))
    incremental = run_etl(context_for_spec(client.spec, client.settings))
    assert incremental.table("transactions").rows_written == 120  # 100 new + 20 updated
    assert incremental.table("customers").rows_written == 0
    assert_warehouse_equals_source(client)
    assert source_sales(client.url)["5"][0] == 1.23  # the update arrived

    again = run_etl(context_for_spec(client.spec, client.settings))
    assert again.rows_written == 0
    assert_warehouse_equals_source(client)

    runs = list_runs(DuckDBWarehouse(client.project.warehouse_path))
    assert [r["status"] for r in runs] == ["success"] * 3
    assert [r["rows_written"] for r in runs] == [0, 120, 1090]

    # The warehouse file is closed between runs: another process can open it for writing.
    probe = f"import duckdb; duckdb.connect({str(client.project.warehouse_path)!r}).execute('SELECT 1')"
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)


def test_incremental_on_an_empty_disk_resumes_from_the_warehouse(client: Client) -> None:
    """A Cloud Run job starts with no local dlt state: the watermarks come back from the last
    completed load in the warehouse, so the run reads only what changed, not the whole source."""
    run_etl(context_for_spec(client.spec, client.settings))
    shutil.rmtree(client.project.etl_dir)
    later = BASE_TIME + timedelta(days=30)
    insert_sales(client.url, 1001, 100, updated_at=later)

    incremental = run_etl(context_for_spec(client.spec, client.settings))

    # 100 new lines, plus the one at the old watermark (the cursor is inclusive; dlt drops it as
    # already seen), not 1,100.
    assert incremental.table("transactions").rows_read == 101
    assert incremental.table("transactions").rows_written == 100
    assert_warehouse_equals_source(client)


def test_full_refresh_and_single_table(client: Client) -> None:
    run_etl(context_for_spec(client.spec, client.settings))
    only = run_etl(context_for_spec(client.spec, client.settings), tables=["products"], full_refresh=True)
    assert [(t.table, t.mode, t.rows_written) for t in only.tables] == [("products", "full-refresh", 40)]
    refreshed = run_etl(context_for_spec(client.spec, client.settings), full_refresh=True)
    assert refreshed.table("transactions").rows_written == 1000
    assert warehouse_count(client.project.warehouse_path, "products") == 40
    assert_warehouse_equals_source(client)


def test_a_key_repeated_by_the_source_is_stored_once(client: Client) -> None:
    """Reading a table keyed on the mapped column, the merge skips its deduplication pass; reading
    a view that repeats lines (the key is not unique there), it deduplicates again."""
    run_etl(context_for_spec(client.spec, client.settings))
    engine = sa.create_engine(client.url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE VIEW sales_export AS SELECT * FROM sales UNION ALL SELECT * FROM sales WHERE line_id <= 10")
        )
        sales = sa.Table("sales", sa.MetaData(), autoload_with=conn)
        export = sa.Table("sales_export", sa.MetaData(), autoload_with=conn)
    engine.dispose()
    spec = with_changes(client.spec, mapping__transactions__table="sales_export")
    assert key_is_unique(sales, "transactions", client.spec.mapping["transactions"])
    assert not key_is_unique(export, "transactions", spec.mapping["transactions"])

    reloaded = run_etl(context_for_spec(spec, client.settings), tables=["transactions"], full_refresh=True)
    assert reloaded.table("transactions").rows_read == 1010
    assert_warehouse_equals_source(client)  # 1,000 keys, each once


def test_sqlite_source_loads_through_the_pyarrow_backend(settings: Settings, tmp_path: Path) -> None:
    """SQLite (the demo's source) and SQL Server are read by dlt's ``pyarrow`` backend, not ConnectorX:
    the same platform types, incremental cursor and merge."""
    assert table_backend(SourceKind.SQLITE) == "pyarrow"
    data = load_environment(settings.environments_dir, "demo-dev").model_dump(mode="json")
    data |= {
        "client_id": "etl-sqlite",
        "name": "ETL sqlite",
        "sources": {"erp": {"kind": "sqlite", "path": "erp.sqlite"}},
    }
    spec = parse_spec(data, origin="test")
    path = upload_area(spec, settings) / "erp.sqlite"  # relative source paths are read from here
    path.parent.mkdir(parents=True)
    url = f"sqlite:///{path}"
    create_erp(url, sales=300)
    client = Client(spec=spec, project=create_project(spec, settings), url=url, settings=settings)
    assert run_etl(context_for_spec(spec, settings)).table("transactions").rows_written == 300
    insert_sales(url, 301, 20, updated_at=BASE_TIME + timedelta(days=3))
    update_sales(url, [1, 2], updated_at=BASE_TIME + timedelta(days=4))
    assert run_etl(context_for_spec(spec, settings)).table("transactions").rows_written == 22
    assert_warehouse_equals_source(client)
