"""Real ERP data in the mapping: derived columns, row rules, exclusions, and their counts.

Everything runs for real: the realistic generator writes SQLite/PostgreSQL, dlt loads DuckDB,
and the expected counts are computed independently from the source rows with pandas.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from rich.console import Console

from b2brec.backends.warehouse import DuckDBWarehouse
from b2brec.context import context_for_spec
from b2brec.datagen import GeneratorConfig, generate
from b2brec.datagen.realistic_tables import realistic_mapping
from b2brec.etl import run_etl, test_connection
from b2brec.etl.checks import Check, ConnectionReport
from b2brec.etl.history import list_runs
from b2brec.projects.local import create_project, upload_area
from b2brec.rowrules import cleaned_sql, excluded_products_sql, rule_counts
from b2brec.settings import Settings
from b2brec.spec import SpecError, parse_spec
from b2brec.spec.clientspec import RowRules
from b2brec.spec.expressions import ExpressionError, parse
from cli.render_etl import render_report
from tests.etl.conftest import allow_local_servers

COLUMNS = ["transaction_id", "customer_id", "product_id", "timestamp", "quantity", "revenue", "invoice_id"]


def spec_data(source: dict[str, Any], mapping: dict[str, Any], client_id: str = "rules-client") -> dict[str, Any]:
    return {
        "client_id": client_id,
        "name": "Rules Client",
        "env": "dev",
        "region": "europe-west1",
        "created": "2026-11-30",
        "sources": {"erp": source},
        "mapping": mapping,
    }


# --- expressions and spec validation ---------------------------------------------------------------


def test_expressions_parse_with_precedence_and_refuse_sql() -> None:
    expr = parse("quantity * unit_price - 2 * (fee + 1)")
    assert str(expr).count("BinOp") == 4
    for bad, says in (
        ("quantity * ", "ends too early"),
        ("quantity; DROP TABLE sales", "cannot read"),
        ("sum(quantity)", r"unexpected '\('"),
        ("'x'", "cannot read"),
        ("", "empty"),
    ):
        with pytest.raises(ExpressionError, match=says):
            parse(bad)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["transactions"].update(derived={"revenue": "quantity *"}), "derived.revenue: .*ends too early"),
        (lambda m: m["transactions"].update(derived={"margin": "quantity"}), "unknown platform column 'margin'"),
        (lambda m: m["customers"].update(derived={"name": "customer_id"}), "only numeric columns"),
        (lambda m: m["transactions"].update(derived={"quantity": "2"}), "map it or derive it, not both"),
        (lambda m: m["transactions"]["columns"].pop("invoice_id"), "cancellation_prefixes needs the invoice number"),
        (lambda m: m["transactions"]["columns"].pop("quantity"), "negative_quantity: 'net' needs columns.quantity"),
        (lambda m: m["products"]["columns"].pop("category"), "exclude_categories needs product categories"),
        (
            lambda m: m["products"].update(rules={"negative_quantity": "drop"}),
            "row rules apply to mapping.transactions",
        ),
        (
            lambda m: m["transactions"]["rules"].update(cancellation_prefixes=[""]),
            "prefixes must be 1-10 printable characters",
        ),
        (lambda m: m["transactions"]["rules"].update(negative_quantity="ignore"), "'keep', 'drop' or 'net'"),
        (lambda m: (m["transactions"].pop("derived"), m["products"]["columns"].pop("price")), "map revenue, derive it"),
    ],
)
def test_spec_refuses_bad_rules_with_the_fix(change: Any, message: str) -> None:
    mapping = realistic_mapping()
    change(mapping)
    with pytest.raises(SpecError, match=message):
        parse_spec(spec_data({"kind": "sqlite", "path": "/tmp/x.sqlite"}, mapping), origin="test")


# --- the rules, by hand ------------------------------------------------------------------------------


@pytest.fixture
def tiny(tmp_path: Path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    with warehouse.connect() as conn:
        conn.execute("CREATE SCHEMA raw_data")
        conn.execute(
            """CREATE TABLE raw_data.transactions AS SELECT * FROM (VALUES
            ('1', 'A', 'p1', TIMESTAMP '2026-01-01', 10.0, 20.0, 'I1'),
            ('2', 'A', 'p1', TIMESTAMP '2026-01-05', 4.0, 8.0, 'I2'),
            ('3', 'A', 'p1', TIMESTAMP '2026-01-06', -6.0, -12.0, 'I3'),
            ('4', 'A', 'p1', TIMESTAMP '2026-01-09', 3.0, 6.0, 'I4'),
            ('5', 'A', 'p2', TIMESTAMP '2026-01-02', 5.0, 5.0, 'I1'),
            ('6', 'A', 'p2', TIMESTAMP '2026-01-02', -5.0, -5.0, 'C9'),
            ('7', NULL, 'POST', TIMESTAMP '2026-01-02', 1.0, 18.0, 'I5'),
            ('8', 'B', 'f1', TIMESTAMP '2026-01-02', 1.0, 18.0, 'I6'),
            ('9', 'B', 'p''q', TIMESTAMP '2026-01-03', 2.0, 4.0, 'I6')
            ) AS v(transaction_id, customer_id, product_id, "timestamp", quantity, revenue, invoice_id)"""
        )
        conn.execute(
            "CREATE TABLE raw_data.products AS SELECT * FROM (VALUES ('p1', 'Food'), ('p2', 'Food'), "
            "('f1', 'Non-product'), ('p''q', 'Food')) AS v(product_id, category)"
        )
    return warehouse


def _kept(warehouse: DuckDBWarehouse, rules: RowRules) -> dict[str, tuple[float, float]]:
    rows = warehouse.query(cleaned_sql(rules, COLUMNS)).to_pylist()
    return {r["transaction_id"]: (r["quantity"], r["revenue"]) for r in rows}


def test_rules_by_hand(tiny: DuckDBWarehouse) -> None:
    rules = RowRules(
        cancellation_prefixes=["C"],
        negative_quantity="net",
        exclude_products=["POST", "p'q"],
        exclude_categories=["Non-product"],
    )
    # A returned 6 x p1 on Jan 6: the newest earlier purchase (line 2, 4 units) goes in full, the one
    # before (line 1, 10 units) keeps 10 - 2 = 8 at the same unit revenue (2.0 -> 16.0); line 4 came
    # after the return and stays. Line 6 is on a C invoice; 7 and 9 are excluded by id (a quote in an
    # id is just a character), 8 by category.
    assert _kept(tiny, rules) == {"1": (8.0, 16.0), "4": (3.0, 6.0), "5": (5.0, 5.0)}
    counts = rule_counts(tiny, rules, COLUMNS)
    assert counts.as_dict() == {
        "lines": 9,
        "kept": 3,
        "cancelled": 1,
        "excluded": 3,
        "negative": 1,
        "returned_in_full": 1,
        "no_customer": 1,
        "rejected": 3,
    }
    # the window counts only lines in it: Jan 2-6 holds lines 2, 3, 5, 6, 7, 8, 9
    windowed = rule_counts(tiny, rules, COLUMNS, window=(datetime(2026, 1, 2), datetime(2026, 1, 7)))
    assert (windowed.lines, windowed.kept, windowed.returned_in_full) == (7, 1, 1)
    assert sorted(tiny.query(excluded_products_sql(rules)).column("product_id").to_pylist()) == ["POST", "f1", "p'q"]


def test_drop_and_keep_negative_lines(tiny: DuckDBWarehouse) -> None:
    dropped = _kept(tiny, RowRules(negative_quantity="drop"))
    assert set(dropped) == {"1", "2", "4", "5", "7", "8", "9"}  # both negative lines (3, 6) go
    kept = _kept(tiny, RowRules(negative_quantity="keep", cancellation_prefixes=["C"]))
    assert set(kept) == {"1", "2", "3", "4", "5", "7", "8", "9"}
    assert _kept(tiny, RowRules()) == _kept(tiny, RowRules(negative_quantity="keep"))
    assert len(_kept(tiny, RowRules())) == 9


# --- end to end through the ETL ----------------------------------------------------------------------


def _expected_counts(frame: pd.DataFrame, products: pd.DataFrame) -> dict[str, int]:
    """The rules re-implemented on the source rows with pandas (independent of the SQL)."""
    cancelled = frame["invoice_no"].str.startswith("C")
    fee_codes = set(products.loc[products["category"] == "Non-product", "stock_code"])
    excluded = ~cancelled & frame["stock_code"].isin(fee_codes)
    rest = frame[~cancelled & ~excluded]
    negative = rest["quantity"] < 0
    returns = rest[negative & rest["customer_id"].notna()]
    purchases = rest[~negative]
    removed = 0
    returned = returns.groupby(["customer_id", "stock_code"]).agg(q=("quantity", "sum"), last=("invoiced_at", "max"))
    by_pair = purchases[purchases["customer_id"].notna()].groupby(["customer_id", "stock_code"])
    for key, ret in returned.iterrows():
        if key not in by_pair.groups:
            continue
        lines = by_pair.get_group(key)
        lines = lines[lines["invoiced_at"] <= ret["last"]].sort_values(["invoiced_at", "line_id"], ascending=False)
        left = -ret["q"]
        for q in lines["quantity"]:
            if left <= 0:
                break
            if q <= left:
                removed += 1
            left -= q
    return {
        "lines": len(frame),
        "cancelled": int(cancelled.sum()),
        "excluded": int(excluded.sum()),
        "negative": int(negative.sum()),
        "returned_in_full": removed,
        "no_customer": int(frame["customer_id"].isna().sum()),
    }


def _load_realistic(settings: Settings, url: str | None, source: dict[str, Any], client_id: str) -> tuple[Any, Any]:
    """``url`` None: a SQLite file ``source["path"]`` in the client's upload area."""
    spec = parse_spec(spec_data(source, realistic_mapping(), client_id), origin="test")
    if url is None:
        path = upload_area(spec, settings) / source["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    generate(GeneratorConfig(transactions=20_000, seed=5, mode="realistic"), url)
    project = create_project(spec, settings)
    report = test_connection(context_for_spec(spec, settings))
    assert report.ok, report.failures
    return spec, project


def _check_against_source(summary: Any, project: Any, engine: sa.Engine) -> None:
    with engine.connect() as conn:
        frame = pd.read_sql("SELECT * FROM sales", conn)
        products = pd.read_sql("SELECT * FROM products", conn)
    expected = _expected_counts(frame, products)
    counts = summary.rules
    assert {k: getattr(counts, k) for k in expected} == expected
    assert counts.kept == counts.lines - counts.cancelled - counts.excluded - counts.negative - counts.returned_in_full
    assert summary.rows_rejected == counts.cancelled + counts.negative + counts.returned_in_full > 300
    assert summary.rows_excluded == expected["excluded"] > 100
    # revenue was derived in the source query: quantity x unit price, line by line
    warehouse = project.warehouse(read_only=True)
    loaded = warehouse.query("SELECT transaction_id, revenue, invoice_id FROM raw_data.transactions").to_pandas()
    merged = loaded.merge(frame.assign(transaction_id=frame["line_id"].astype(str)), on="transaction_id")
    assert len(merged) == len(frame)
    assert (merged["revenue"] - merged["quantity"] * merged["unit_price"]).abs().max() < 1e-6
    assert (merged["invoice_id"] == merged["invoice_no"]).all()
    run = list_runs(warehouse)[0]
    assert (run["rows_rejected"], run["rows_excluded"]) == (summary.rows_rejected, summary.rows_excluded)
    assert run["rules"]["returned_in_full"] == counts.returned_in_full


def test_realistic_sqlite_through_the_etl(settings: Settings) -> None:
    _spec, project = _load_realistic(settings, None, {"kind": "sqlite", "path": "erp.sqlite"}, "rules-sqlite")
    db = upload_area(_spec, settings) / "erp.sqlite"
    summary = run_etl(context_for_spec(_spec, settings))
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        _check_against_source(summary, project, engine)
    finally:
        engine.dispose()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == summary.rules.lines


def test_realistic_postgresql_through_the_etl(settings: Settings, postgres_url: str) -> None:
    url = sa.make_url(postgres_url)
    source = {
        "kind": "postgresql",
        "host": url.host,
        "port": url.port,
        "database": url.database,
        "username": url.username,
    }
    settings = allow_local_servers(settings, "rules-postgres")  # the operator allows this machine's server
    spec, project = _load_realistic(settings, postgres_url, source, "rules-postgres")
    summary = run_etl(context_for_spec(spec, settings))
    engine = sa.create_engine(postgres_url)
    try:
        _check_against_source(summary, project, engine)
    finally:
        engine.dispose()  # no connection left for the garbage collector to warn about


def test_derived_column_from_csv(settings: Settings) -> None:
    mapping = {
        "transactions": {
            "source": "erp",
            "table": "sales",
            "columns": {"transaction_id": "id", "customer_id": "cust", "product_id": "sku", "timestamp": "sold_at"},
            "derived": {"revenue": "qty * price + 1", "quantity": "qty / price"},
        }
    }
    spec = parse_spec(spec_data({"kind": "csv", "path": "export"}, mapping, "rules-csv"), origin="test")
    folder = upload_area(spec, settings) / "export"
    folder.mkdir(parents=True)
    (folder / "sales.csv").write_text(
        "id,cust,sku,qty,price,sold_at\n1,C1,P1,3,2.5,2026-03-01T10:00:00\n2,C2,P2,2,0,2026-03-02T10:00:00\n"
    )
    project = create_project(spec, settings)
    run_etl(context_for_spec(spec, settings))
    rows = project.warehouse(read_only=True).query(
        "SELECT transaction_id, revenue, quantity FROM raw_data.transactions ORDER BY transaction_id"
    )
    # 3 x 2.5 + 1 = 8.5 and 3 / 2.5 = 1.2; 2 x 0 + 1 = 1.0 and 2 / 0 is NULL, not an error
    assert rows.to_pylist() == [
        {"transaction_id": "1", "revenue": 8.5, "quantity": pytest.approx(1.2)},
        {"transaction_id": "2", "revenue": 1.0, "quantity": None},
    ]


def test_missing_derived_column_is_named(settings: Settings) -> None:
    mapping = realistic_mapping()
    mapping["transactions"]["derived"] = {"revenue": "quantity * net_price"}
    spec = parse_spec(spec_data({"kind": "sqlite", "path": "erp.sqlite"}, mapping, "rules-missing"), origin="test")
    db = upload_area(spec, settings) / "erp.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    generate(GeneratorConfig(transactions=2_000, seed=1, mode="realistic"), f"sqlite:///{db}")
    create_project(spec, settings)
    report = test_connection(context_for_spec(spec, settings))
    failure = report.failures[0]
    assert failure.code == "missing_column"
    assert "net_price" in failure.detail and "unit_price" in failure.fix


def test_connection_fix_is_never_cut_off() -> None:
    fix = (
        "correct mapping.transactions.columns.customer_id; the table has: line_id, invoice_no, stock_code, "
        "quantity, unit_price, customer_identifier_with_a_very_long_name_that_cannot_wrap_anywhere, invoiced_at."
    )
    report = ConnectionReport(
        checks=(Check(source="erp", target="transactions", ok=False, detail="column missing", code="x", fix=fix),)
    )
    for width in (60, 80, 120):
        console = Console(width=width, record=True, color_system=None)
        console.print(render_report(report))
        text = console.export_text()
        below = "".join(text.split("how to fix:", 1)[1].split())  # the wrapped lines, joined
        assert below == "".join(fix.split()), width
        assert max(len(line) for line in text.splitlines()) <= width


def test_shipped_realistic_environment_matches_the_generator() -> None:
    from b2brec.spec import load_environment

    spec = load_environment(Path(__file__).resolve().parents[2] / "environments", "realistic-dev")
    expected = parse_spec(spec_data({"kind": "sqlite", "path": "/x"}, realistic_mapping()), origin="test").mapping
    assert spec.mapping == {name: mapping.model_copy(update={"source": "erp"}) for name, mapping in expected.items()}
