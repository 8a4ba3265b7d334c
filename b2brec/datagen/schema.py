"""The client ERP's source schema (fixed: ``environments/demo-dev.yaml`` maps these names) and
Arrow builders that turn the simulated world into rows of it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from b2brec.datagen.sales import SalesChunk
from b2brec.datagen.world import World

TABLES = ("customers", "products", "sales")
UPDATED_AT_INDEX = "ix_sales_updated_at"


def build_metadata(dialect: str, mode: str = "demo") -> sa.MetaData:
    """The three ERP tables. Money is NUMERIC(12,2), except on SQLite (no decimals) where it is a double."""
    if mode == "realistic":
        from b2brec.datagen.realistic_tables import realistic_metadata

        return realistic_metadata(dialect)
    money: sa.types.TypeEngine = sa.Float() if dialect == "sqlite" else sa.Numeric(12, 2, asdecimal=False)
    opts: dict[str, Any] = {"mysql_charset": "utf8mb4", "mariadb_charset": "utf8mb4"}  # dialect kwargs (**kw)
    md = sa.MetaData()
    sa.Table(
        "customers",
        md,
        sa.Column("customer_id", sa.String(16), primary_key=True),
        sa.Column("company_name", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("segment", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        **opts,
    )
    sa.Table(
        "products",
        md,
        sa.Column("sku", sa.String(16), primary_key=True),
        sa.Column("product_name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("subcategory", sa.String(100), nullable=False),
        sa.Column("unit_price", money, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        **opts,
    )
    sa.Table(
        "sales",
        md,
        sa.Column("line_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.String(16), nullable=False),
        sa.Column("sku", sa.String(16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount", money, nullable=False),
        sa.Column("sold_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        **opts,
    )
    return md


def updated_at_index(md: sa.MetaData) -> sa.Index:
    """Created after the bulk load (cheaper than maintaining it row by row)."""
    return sa.Index(UPDATED_AT_INDEX, md.tables["sales"].c.updated_at)


def customer_ids(n: int) -> pa.Array:
    return pa.array([f"C{i + 1:06d}" for i in range(n)], pa.string())


def product_ids(n: int) -> pa.Array:
    return pa.array([f"P{i + 1:06d}" for i in range(n)], pa.string())


def _ts(epoch: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(epoch, dtype=np.int64).astype("datetime64[s]"), pa.timestamp("s"))


def customers_table(world: World) -> pa.Table:
    c = world.customers
    return pa.table(
        {
            "customer_id": customer_ids(len(c.names)),
            "company_name": pa.array(c.names, pa.string()),
            "city": pa.array([c.cities[i] for i in c.city], pa.string()),
            "segment": pa.array([c.segments[i] for i in c.segment], pa.string()),
            "created_at": _ts(c.created_at),
            "updated_at": _ts(c.updated_at),
        }
    )


def products_table(world: World) -> pa.Table:
    p = world.catalog
    return pa.table(
        {
            "sku": product_ids(len(p.names)),
            "product_name": pa.array(p.names, pa.string()),
            "category": pa.array([p.categories[i] for i in p.category], pa.string()),
            "subcategory": pa.array([p.subcategories[i] for i in p.subcategory], pa.string()),
            "unit_price": pa.array(p.price, pa.float64()),
            "updated_at": _ts(p.updated_at),
        }
    )


def sales_table(chunk: SalesChunk, cust_ids: pa.Array, prod_ids: pa.Array) -> pa.Table:
    return pa.table(
        {
            "line_id": pa.array(chunk.line_id, pa.int64()),
            "customer_id": cust_ids.take(pa.array(chunk.customer)),
            "sku": prod_ids.take(pa.array(chunk.product)),
            "quantity": pa.array(chunk.quantity, pa.int32()),
            "amount": pa.array(chunk.amount, pa.float64()),
            "sold_at": _ts(chunk.sold_at),
            "updated_at": _ts(chunk.updated_at),
        }
    )
