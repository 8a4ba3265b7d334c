"""CSV/Parquet sources (real files, real DuckDB), and the parts testable without a server:
SQL Server URL/query building and error mapping (no SQL Server here), BigQuery destination config."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pymssql
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql

from b2brec.context import context_for_spec
from b2brec.etl import EtlError, run_etl, test_connection
from b2brec.etl.destination import bigquery_destination, target_for
from b2brec.etl.errors import classify_connect_error, scrub
from b2brec.etl.mapping import mapped_select
from b2brec.etl.sources import SourceHandle, connect_args, database_url
from b2brec.projects.local import create_project, upload_area
from b2brec.settings import Backend, Settings
from b2brec.spec import ClientSpec, SourceConnection, SourceKind, TableMapping, parse_spec
from tests.etl.sourcedb import SALES, warehouse_count


def file_spec(settings: Settings, folder: Path | str, kind: str, *, revenue: bool = True) -> ClientSpec:
    data = {
        "client_id": f"files-{kind}",
        "name": f"Files {kind}",
        "env": "dev",
        "region": "europe-west1",
        "created": "2026-11-26",
        "sources": {"export": {"kind": kind, "path": str(folder)}},
        "mapping": {
            "products": {
                "source": "export",
                "table": "products",
                "columns": {"product_id": "sku", "name": "title", "price": "price"},
            },
            "transactions": {
                "source": "export",
                "table": "sales",
                "columns": {
                    "transaction_id": "id",
                    "customer_id": "cust",
                    "product_id": "sku",
                    "quantity": "qty",
                    "timestamp": "sold_at",
                    **({"revenue": "amount"} if revenue else {}),
                },
            },
        },
    }
    return parse_spec(data, origin="test")


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def uploads(settings: Settings, kind: str) -> Path:
    """The upload area of the ``file_spec`` client: the only place its file sources may read."""
    return upload_area(file_spec(settings, "export", kind), settings)


def test_csv_files_load_and_revenue_is_derived(settings: Settings, tmp_path: Path) -> None:
    folder = uploads(settings, "csv") / "export"
    folder.mkdir(parents=True)
    write_csv(folder / "products.csv", ["sku", "title", "price"], [[1, "Water", 0.5], [2, "Rice", 2.25]])
    write_csv(
        folder / "sales.csv",
        ["id", "cust", "sku", "qty", "sold_at"],
        [[10, "C1", 1, 12, "2026-03-01T10:00:00"], [11, "C2", 2, 4, "2026-03-02T11:30:00"]],
    )
    spec = file_spec(settings, "export", "csv", revenue=False)
    project = create_project(spec, settings)
    assert test_connection(context_for_spec(spec, settings)).ok
    summary = run_etl(context_for_spec(spec, settings))
    assert {t.table: (t.mode, t.rows_written) for t in summary.tables} == {
        "products": ("replace", 2),
        "transactions": ("replace", 2),
    }
    rows = project.warehouse(read_only=True).query(
        "SELECT transaction_id, product_id, revenue FROM raw_data.transactions ORDER BY transaction_id"
    )
    # revenue = quantity x products.price: 12 x 0.50 = 6.0 and 4 x 2.25 = 9.0; ids became strings.
    assert rows.to_pylist() == [
        {"transaction_id": "10", "product_id": "1", "revenue": 6.0},
        {"transaction_id": "11", "product_id": "2", "revenue": 9.0},
    ]


def test_parquet_folder_and_file_errors(settings: Settings, tmp_path: Path) -> None:
    folder = uploads(settings, "parquet") / "export"
    (folder / "sales").mkdir(parents=True)
    pq.write_table(pa.table({"sku": ["A"], "title": ["Oil"], "price": [3.0]}), folder / "products.parquet")
    part = {"id": [1, 2], "cust": ["C1", "C1"], "sku": ["A", "A"], "qty": [1, 2], "amount": [3.0, 6.0]}
    ts = pa.array([date(2026, 1, 1), date(2026, 1, 2)], pa.date32())
    pq.write_table(pa.table({**part, "sold_at": ts}), folder / "sales" / "part-0.parquet")
    spec = file_spec(settings, str(folder), "parquet")  # an absolute path inside the area is fine too
    create_project(spec, settings)
    assert run_etl(context_for_spec(spec, settings)).table("transactions").rows_written == 2

    renamed = spec.model_dump(mode="json")
    renamed["mapping"]["transactions"]["columns"]["quantity"] = "units"
    report = test_connection(context_for_spec(parse_spec(renamed, origin="test"), settings))
    assert [(c.code, c.target) for c in report.failures] == [("missing_column", "transactions")]
    # The count of columns and the names the mapping reads; never the file's own header (its content).
    assert "units" in report.failures[0].detail and "has 6 columns" in report.failures[0].detail
    assert "units" in report.failures[0].fix and "qty" not in str(report)

    missing = spec.model_dump(mode="json")
    missing["sources"]["export"]["path"] = "nowhere"
    with pytest.raises(EtlError) as raised:
        run_etl(context_for_spec(parse_spec(missing, origin="test"), settings))
    assert raised.value.code == "missing_file"
    assert warehouse_count(create_project(spec, settings).warehouse_path, "transactions") == 2


MSSQL = SourceConnection(
    kind=SourceKind.MSSQL, host="127.0.0.1", port=1, database="erp", username="sa", password_secret="mssql-pw"
)


def test_sql_server_url_query_and_timeouts(tmp_path: Path) -> None:
    """No SQL Server here: check what would be sent to one."""
    password = "S3cr3t/with@chars"
    url = database_url(MSSQL, password)
    assert url.drivername == "mssql+pymssql" and url.password == password and url.port == 1
    handle = SourceHandle(name="erp", conn=MSSQL, password=password)
    assert password not in handle.safe_url() and "***" in handle.safe_url()
    assert password not in handle.describe()
    assert connect_args(SourceKind.MSSQL) == {"login_timeout": 5}

    mapping = TableMapping(
        source="erp",
        table="sales",
        columns={
            "transaction_id": "line_id",
            "customer_id": "customer_id",
            "product_id": "sku",
            "timestamp": "sold_at",
            "quantity": "quantity",
        },
        cursor="timestamp",
    )
    sql = str(mapped_select(SALES, "transactions", mapping, "mssql").compile(dialect=mssql.dialect()))
    assert "CAST(sales.line_id AS VARCHAR(max)) AS transaction_id" in sql
    assert "CAST(sales.quantity AS FLOAT) AS quantity" in sql
    assert "CAST(NULL AS FLOAT) AS revenue" in sql  # derived after loading


def test_sql_server_errors_are_classified(tmp_path: Path) -> None:
    # A real pymssql connection attempt to a closed port on this machine.
    handle = SourceHandle(name="erp", conn=MSSQL, password="pw")
    with pytest.raises(sa.exc.OperationalError) as refused:
        with handle.engine().connect():
            pass
    assert classify_connect_error(refused.value) == "host_unreachable"
    # Driver errors as pymssql raises them for a login failure and an unknown database.
    login = pymssql.OperationalError((18456, b"Login failed for user 'sa'.DB-Lib error message 20018"))
    unknown_db = pymssql.OperationalError((4060, b'Cannot open database "erp" requested by the login.'))
    assert classify_connect_error(login) == "bad_credentials"
    assert classify_connect_error(unknown_db) == "unknown_database"


def test_scrub_masks_by_structure_and_withholds_what_it_cannot_mask() -> None:
    text = "mssql+pymssql://sa:p%40ss%2Fw@host/db failed; other://u:hunter2@h; dsn host=h password=x1 user=u"
    assert (
        scrub(text, ["p@ss/w"])
        == "mssql+pymssql://sa:***@host/db failed; other://u:***@h; dsn host=h password=*** user=u"
    )
    # A password that is also an ordinary word is never replaced inside other words ("***ql"):
    # the text is withheld whole instead.
    withheld = scrub('connection to postgresql failed for user "postgres"', ["postgres"])
    assert "***" not in withheld and "postgres" not in withheld


def test_bigquery_destination_config(settings: Settings, tmp_path: Path) -> None:
    spec = file_spec(settings, tmp_path, "csv")
    destination = bigquery_destination(spec)
    params = destination.config_params
    assert params["location"] == "europe-west1"
    assert params["credentials"].project_id == spec.project_id
    assert params["replace_strategy"] == "insert-from-staging"
    gcp = Settings(home=tmp_path / "home", backend=Backend.GCP)
    target = target_for(context_for_spec(spec, gcp))
    assert target.dataset == "raw_data" and target.dlt_config == {}
    assert target.pipelines_dir == tmp_path / "home" / "etl" / spec.project_id
