"""Writing to SQLite and to files, and the checks on targets (real SQLite, real files)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from b2brec.datagen import DatagenError, GeneratorConfig, generate
from b2brec.datagen.targets import parse_target, safe_url

CFG = GeneratorConfig(transactions=3_000, seed=5, chunk_size=1_000)


def _rows(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def test_sqlite_gets_the_fixed_erp_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'erp.sqlite'}"
    seen: list[tuple[int, int]] = []
    summary = generate(CFG, url, progress=lambda done, total: seen.append((done, total)))
    assert (summary.transactions, summary.customers, summary.products) == (3_000, CFG.n_customers, CFG.n_products)
    assert seen[-1] == (3_000, 3_000) and len(seen) == 3  # one callback per 1,000-line chunk
    assert datetime(2025, 11, 1) <= summary.first_sale < summary.last_sale < datetime(2026, 11, 1)
    inspector = sa.inspect(sa.create_engine(url))
    assert [c["name"] for c in inspector.get_columns("sales")] == [
        "line_id",
        "customer_id",
        "sku",
        "quantity",
        "amount",
        "sold_at",
        "updated_at",
    ]
    assert [c["name"] for c in inspector.get_columns("customers")] == [
        "customer_id",
        "company_name",
        "city",
        "segment",
        "created_at",
        "updated_at",
    ]
    assert [c["name"] for c in inspector.get_columns("products")] == [
        "sku",
        "product_name",
        "category",
        "subcategory",
        "unit_price",
        "updated_at",
    ]
    assert inspector.get_pk_constraint("sales")["constrained_columns"] == ["line_id"]
    assert [ix["column_names"] for ix in inspector.get_indexes("sales")] == [["updated_at"]]
    assert _rows(url, "SELECT COUNT(*), MIN(line_id), MAX(line_id) FROM sales") == [(3_000, 1, 3_000)]
    first = _rows(url, "SELECT customer_id, sku FROM sales WHERE line_id = 1")[0]
    assert first[0].startswith("C0") and first[1].startswith("P0") and len(first[0]) == 7
    # every sales line points at a generated customer and product
    assert _rows(
        url,
        "SELECT COUNT(*) FROM sales s LEFT JOIN customers c USING (customer_id) "
        "LEFT JOIN products p USING (sku) WHERE c.customer_id IS NULL OR p.sku IS NULL",
    ) == [(0,)]


def test_same_seed_same_database_rows(tmp_path: Path) -> None:
    a, b = f"sqlite:///{tmp_path / 'a.sqlite'}", f"sqlite:///{tmp_path / 'b.sqlite'}"
    generate(CFG, a)
    generate(GeneratorConfig(transactions=3_000, seed=5, chunk_size=250), b)
    for table in ("customers", "products", "sales"):
        assert _rows(a, f"SELECT * FROM {table} ORDER BY 1") == _rows(b, f"SELECT * FROM {table} ORDER BY 1")


def test_replace_and_no_replace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.sqlite'}"
    generate(CFG, url)
    with pytest.raises(DatagenError, match="tables customers, products, sales already exist"):
        generate(CFG, url, replace=False)
    generate(GeneratorConfig(transactions=1_000, seed=5), url)  # replace=True drops and recreates
    assert _rows(url, "SELECT COUNT(*) FROM sales") == [(1_000,)]


def test_csv_files_are_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    def digest(folder: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}

    generate(CFG, f"file://{tmp_path / 'one'}", file_format="csv")
    generate(CFG, f"file://{tmp_path / 'two'}", file_format="csv")
    assert digest(tmp_path / "one") == digest(tmp_path / "two")
    assert set(digest(tmp_path / "one")) == {"customers.csv", "products.csv", "sales.csv"}
    sales = pacsv.read_csv(tmp_path / "one" / "sales.csv")
    assert sales.num_rows == 3_000 and sales.column_names[0] == "line_id"
    generate(GeneratorConfig(transactions=3_000, seed=6), f"file://{tmp_path / 'three'}", file_format="csv")
    assert digest(tmp_path / "three")["sales.csv"] != digest(tmp_path / "one")["sales.csv"]


def test_parquet_files(tmp_path: Path) -> None:
    generate(CFG, f"file://{tmp_path}", file_format="parquet")
    sales = pq.read_table(tmp_path / "sales.parquet")
    products = pq.read_table(tmp_path / "products.parquet")
    assert sales.num_rows == 3_000 and products.num_rows == CFG.n_products
    assert pa.types.is_timestamp(sales.schema.field("sold_at").type)  # Parquet stores seconds as ms
    with pytest.raises(DatagenError, match="sales.parquet already exist"):
        generate(CFG, f"file://{tmp_path}", file_format="parquet", replace=False)


@pytest.mark.parametrize(
    ("url", "fmt", "message"),
    [
        ("oracle://scott:tiger@db/x", None, "unsupported database 'oracle'.*sqlite:///.*postgresql\\+psycopg"),
        ("postgresql+psycopg2://u:pw@h/db", None, "driver 'psycopg2' is not installed.*postgresql\\+psycopg"),
        ("not a url", None, "is not a database URL"),
        ("sqlite://", None, "in-memory SQLite"),
        ("file:///tmp/x", "xlsx", "unknown file format 'xlsx'"),
        ("sqlite:///x.sqlite", "csv", "--format applies to file:// targets only"),
    ],
)
def test_bad_targets_are_explained(url: str, fmt: str | None, message: str) -> None:
    with pytest.raises(DatagenError, match=message):
        parse_target(url, fmt)


def test_passwords_never_appear_in_messages() -> None:
    with pytest.raises(DatagenError) as info:
        parse_target("oracle://scott:s3cr3t-pw@db/x")
    assert "s3cr3t-pw" not in info.value.message and "***" in info.value.message
    assert safe_url("postgresql://u:s3cr3t-pw@h/db") == "postgresql://u:***@h/db"


def test_unreachable_server_is_a_clear_error_without_password(tmp_path: Path) -> None:
    # nothing listens on port 1 of localhost: the driver's "connection refused" comes back cleanly
    with pytest.raises(DatagenError, match="failed: .*(refused|connect)") as info:
        generate(CFG, "postgresql://someone:s3cr3t-pw@127.0.0.1:1/nowhere")
    assert "s3cr3t-pw" not in info.value.message


def test_drivers_are_normalised() -> None:
    assert str(parse_target("postgresql://u@h/db").url).startswith("postgresql+psycopg://")
    mysql = parse_target("mysql://root@h/db").url
    assert mysql.drivername == "mysql+pymysql" and mysql.query["charset"] == "utf8mb4"
    assert parse_target("mariadb://root@h/db").url.drivername == "mariadb+pymysql"


def test_unwritable_folder_is_explained(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DatagenError, match="cannot create folder"):
        generate(CFG, f"file://{blocker / 'out'}", file_format="csv")
