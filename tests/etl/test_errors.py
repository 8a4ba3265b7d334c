"""Connection-test and load errors: each problem gets its own code and a fix, the password never
leaks (message, logs, etl folder), and the warehouse's data is unchanged."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from b2brec.backends.factory import backends_for
from b2brec.backends.warehouse import DuckDBWarehouse
from b2brec.context import context_for_spec
from b2brec.errors import B2BRecError
from b2brec.etl import EtlError, list_runs, run_etl, test_connection
from b2brec.etl.sources import table_backend
from b2brec.projects.local import create_project
from b2brec.settings import Settings
from b2brec.spec import SourceKind
from tests.etl.conftest import Client, make_client
from tests.etl.sourcedb import warehouse_count, with_changes

PLATFORM_TABLES = ("transactions", "products", "customers")


def counts(client: Client) -> dict[str, int]:
    return {t: warehouse_count(client.project.warehouse_path, t) for t in PLATFORM_TABLES}


def folder_contains(folder: Path, needle: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


@pytest.fixture
def db_user(client: Client) -> Iterator[str]:
    """A real login on the source server (dropped afterwards). PostgreSQL here trusts 127.0.0.1
    (it never asks for a password), so a wrong password is tested on MariaDB and an unknown user
    name on PostgreSQL; both are refused credentials."""
    user = f"etl_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(client.url, isolation_level="AUTOCOMMIT")
    is_pg = admin.dialect.name == "postgresql"
    with admin.connect() as conn:
        if not is_pg:
            conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'Right-Pw-{user}'"))
            conn.execute(sa.text(f"GRANT SELECT ON *.* TO '{user}'@'%'"))
    try:
        yield user if not is_pg else f"{user}_absent"
    finally:
        with admin.connect() as conn:
            if not is_pg:
                conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
        admin.dispose()


def test_bad_credentials_are_named_and_the_password_never_leaks(
    client: Client, db_user: str, caplog: pytest.LogCaptureFixture
) -> None:
    run_etl(context_for_spec(client.spec, client.settings))
    before = counts(client)
    password = f"Wr0ng-{uuid.uuid4().hex}-p@ss:w/rd"  # URL-special characters on purpose
    spec = with_changes(client.spec, sources__erp__username=db_user, sources__erp__password_secret="erp-password")
    create_project(spec, client.settings)
    backends_for(spec, client.settings).secrets.put("erp-password", password)

    caplog.set_level(logging.DEBUG)
    report = test_connection(context_for_spec(spec, client.settings))
    assert not report.ok
    assert [(c.target, c.code) for c in report.failures] == [("connection", "bad_credentials")]
    assert "b2brec secrets set erp-password" in report.failures[0].fix
    with pytest.raises(EtlError) as raised:
        run_etl(context_for_spec(spec, client.settings))
    assert raised.value.code == "bad_credentials"
    assert "user name or password" in raised.value.message

    assert password not in raised.value.message
    assert password not in str(report) and password not in caplog.text
    assert folder_contains(client.project.etl_dir, password) == []
    assert folder_contains(client.project.logs_dir, password) == []
    assert counts(client) == before
    runs = list_runs(DuckDBWarehouse(client.project.warehouse_path))
    assert (runs[0]["status"], runs[0]["error_code"]) == ("failed", "bad_credentials")
    assert password not in runs[0]["error_message"]


@pytest.mark.parametrize(
    ("changes", "code", "words"),
    [
        ({"sources__erp__port": 1}, "host_unreachable", "could not reach"),
        ({"sources__erp__database": "no_such_db_b2brec"}, "unknown_database", "does not exist"),
        ({"mapping__transactions__table": "sales_lines"}, "missing_table", "sales_lines"),
        ({"mapping__transactions__columns__revenue": "amount_eur"}, "missing_column", "amount_eur"),
        ({"mapping__transactions__columns__timestamp": "customer_id"}, "wrong_column_type", "date/time"),
    ],
    ids=["unreachable", "unknown-db", "missing-table", "missing-column", "text-timestamp"],
)
def test_source_problems_have_distinct_codes_and_leave_the_warehouse_unchanged(
    client: Client, changes: dict[str, object], code: str, words: str
) -> None:
    run_etl(context_for_spec(client.spec, client.settings))
    before = counts(client)
    spec = with_changes(client.spec, **changes)
    report = test_connection(context_for_spec(spec, client.settings))
    assert [c.code for c in report.failures] == [code]
    assert words in report.failures[0].detail and report.failures[0].fix
    with pytest.raises(EtlError) as raised:
        run_etl(context_for_spec(spec, client.settings))
    assert raised.value.code == code
    assert counts(client) == before


def test_missing_secret_and_unknown_table_option(client: Client) -> None:
    spec = with_changes(client.spec, sources__erp__password_secret="never-stored")
    report = test_connection(context_for_spec(spec, client.settings))
    assert [c.code for c in report.failures] == ["secret_missing"]
    with pytest.raises(EtlError) as raised:
        run_etl(context_for_spec(client.spec, client.settings), tables=["orders"])
    assert raised.value.code == "invalid_request"
    assert "customers, products, transactions" in raised.value.message


def test_unknown_client_project(settings: Settings, client: Client) -> None:
    spec = with_changes(client.spec, client_id="not-created", name="Not Created")
    with pytest.raises(B2BRecError) as raised:
        run_etl(context_for_spec(spec, settings))
    assert raised.value.code == "project_not_found"


def test_password_with_url_characters_reaches_the_reader_and_never_leaks(
    settings: Settings, mysql_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A real MariaDB login whose password needs URL-encoding loads through ConnectorX (which gets
    the password inside a URL), and the password is nowhere in logs, the etl folder or the history."""
    assert table_backend(SourceKind.MYSQL) == "connectorx"
    client = make_client(settings, mysql_url, "etl-url-password")
    user = f"etl_{uuid.uuid4().hex[:8]}"
    password = f"R1ght-{uuid.uuid4().hex}-p@ss:w/rd%?#"
    database = sa.make_url(mysql_url).database
    admin = sa.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"))
        conn.execute(sa.text(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'"))
    try:
        spec = with_changes(client.spec, sources__erp__username=user, sources__erp__password_secret="erp-password")
        backends_for(spec, client.settings).secrets.put("erp-password", password)
        caplog.set_level(logging.DEBUG)
        summary = run_etl(context_for_spec(spec, client.settings))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
        admin.dispose()
    assert {t.table: t.rows_written for t in summary.tables} == {"customers": 50, "products": 40, "transactions": 1000}
    assert password not in caplog.text
    assert folder_contains(client.project.etl_dir, password) == []
    assert folder_contains(client.project.logs_dir, password) == []
    assert password not in str(list_runs(DuckDBWarehouse(client.project.warehouse_path)))
