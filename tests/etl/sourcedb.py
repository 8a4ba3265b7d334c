"""A small client ERP (the schema mapped in environments/demo-dev.yaml) written with SQLAlchemy,
plus helpers that compare the source with the warehouse."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from b2brec.settings import Settings
from b2brec.spec import ClientSpec, load_environment, parse_spec

META = sa.MetaData()
CUSTOMERS = sa.Table(
    "customers",
    META,
    sa.Column("customer_id", sa.String(20), primary_key=True),
    sa.Column("company_name", sa.String(100)),
    sa.Column("city", sa.String(50)),
    sa.Column("segment", sa.String(30)),
    sa.Column("updated_at", sa.DateTime),
)
PRODUCTS = sa.Table(
    "products",
    META,
    sa.Column("sku", sa.String(20), primary_key=True),
    sa.Column("product_name", sa.String(100)),
    sa.Column("category", sa.String(50)),
    sa.Column("subcategory", sa.String(50)),
    sa.Column("unit_price", sa.Numeric(10, 2)),
    sa.Column("updated_at", sa.DateTime),
)
SALES = sa.Table(
    "sales",
    META,
    sa.Column("line_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.String(20)),
    sa.Column("sku", sa.String(20)),
    sa.Column("quantity", sa.Integer),
    sa.Column("amount", sa.Numeric(12, 2)),
    sa.Column("sold_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime),
)
BASE_TIME = datetime(2026, 1, 1, 8, 0, 0)
CITIES = ("Berlin", "Lyon", "Porto", "Gdansk", "Turin")
CATEGORIES = {"drinks": ("water", "juice"), "dry": ("pasta", "rice"), "fresh": ("dairy", "fruit")}


def create_erp(url: str, *, customers: int = 50, products: int = 40, sales: int = 1000, seed: int = 7) -> None:
    """Create and fill customers, products and sales; line ids are 1..sales."""
    rng = random.Random(seed)
    engine = sa.create_engine(url)
    META.create_all(engine)
    cats = list(CATEGORIES)
    with engine.begin() as conn:
        conn.execute(
            CUSTOMERS.insert(),
            [
                {
                    "customer_id": f"C{i:05d}",
                    "company_name": f"Customer {i}",
                    "city": rng.choice(CITIES),
                    "segment": rng.choice(("restaurant", "retail", "hotel")),
                    "updated_at": BASE_TIME,
                }
                for i in range(customers)
            ],
        )
        rows = []
        for i in range(products):
            cat = cats[i % len(cats)]
            rows.append(
                {
                    "sku": f"SKU-{i:04d}",
                    "product_name": f"Product {i}",
                    "category": cat,
                    "subcategory": CATEGORIES[cat][i % 2],
                    "unit_price": Decimal(rng.randint(100, 9999)) / 100,
                    "updated_at": BASE_TIME,
                }
            )
        conn.execute(PRODUCTS.insert(), rows)
    insert_sales(url, 1, sales, customers=customers, products=products, seed=seed, updated_at=BASE_TIME)
    engine.dispose()


def insert_sales(
    url: str, first: int, count: int, *, customers: int = 50, products: int = 40, seed: int = 7, updated_at: datetime
) -> None:
    rng = random.Random(seed * 1_000_003 + first)
    engine = sa.create_engine(url)
    batch = 5000
    with engine.begin() as conn:
        for start in range(first, first + count, batch):
            conn.execute(
                SALES.insert(),
                [
                    {
                        "line_id": line,
                        "customer_id": f"C{rng.randrange(customers):05d}",
                        "sku": f"SKU-{rng.randrange(products):04d}",
                        "quantity": rng.randint(1, 48),
                        "amount": Decimal(rng.randint(100, 500_000)) / 100,
                        "sold_at": BASE_TIME - timedelta(minutes=line),
                        "updated_at": updated_at + timedelta(seconds=line - first),
                    }
                    for line in range(start, min(start + batch, first + count))
                ],
            )
    engine.dispose()


def update_sales(url: str, line_ids: list[int], *, updated_at: datetime) -> None:
    """Change the amount of some lines (a credit note, say) and move their cursor forward."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            SALES.update().where(SALES.c.line_id.in_(line_ids)).values(amount=Decimal("1.23"), updated_at=updated_at)
        )
    engine.dispose()


def client_spec(settings: Settings, url: str, *, client_id: str, password_secret: str | None = None) -> ClientSpec:
    """demo-dev.yaml with its source swapped for the database at ``url``."""
    data = load_environment(settings.environments_dir, "demo-dev").model_dump(mode="json")
    parsed = sa.make_url(url)
    kind = {"postgresql": "postgresql", "mysql": "mysql"}[parsed.get_backend_name()]
    data["client_id"] = client_id
    data["name"] = f"ETL {client_id}"
    data["sources"] = {
        "erp": {
            "kind": kind,
            "host": parsed.host,
            "port": parsed.port,
            "database": parsed.database,
            "username": parsed.username,
            "password_secret": password_secret,
        }
    }
    return parse_spec(data, origin="test")


def with_changes(spec: ClientSpec, **changes: object) -> ClientSpec:
    """A copy of ``spec`` with nested fields changed, e.g. ``with_changes(spec, sources__erp__port=1)``."""
    data = spec.model_dump(mode="json")
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    return parse_spec(data, origin="test")


def source_sales(url: str) -> dict[str, tuple[Any, ...]]:
    """line_id (as string) -> (amount as float, sold_at in UTC) from the source."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(SALES.c.line_id, SALES.c.amount, SALES.c.sold_at)).all()
    engine.dispose()
    return {str(r[0]): (round(float(r[1]), 2), r[2].replace(tzinfo=UTC)) for r in rows}


def warehouse_sales(path: Path) -> tuple[dict[str, tuple[Any, ...]], int]:
    """(transaction_id -> (revenue, timestamp in UTC), number of rows) from raw_data.transactions."""
    with duckdb.connect(str(path), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        rows = conn.execute('SELECT transaction_id, revenue, "timestamp" FROM raw_data.transactions').fetchall()
    values = {r[0]: (round(r[1], 2), r[2].astimezone(UTC)) for r in rows}
    return values, len(rows)


def warehouse_count(path: Path, table: str) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        exists = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_data' AND table_name = ?",
            [table],
        ).fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute(f"SELECT count(*) FROM raw_data.{table}").fetchone()
    return int(row[0]) if row else 0
