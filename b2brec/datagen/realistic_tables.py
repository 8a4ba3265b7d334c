"""Realistic mode's source schema (an invoice-line export, as many ERPs keep it) and its Arrow rows.

- ``customers``: ``customer_id INTEGER`` PK (``12346``...), ``country``, ``city``, ``created_at``,
  ``updated_at``;
- ``products``: ``stock_code`` PK (``85123A``, ``POST``...), ``description``, ``category``,
  ``subcategory``, ``list_price``, ``updated_at`` (postage and fees are category ``Non-product``);
- ``sales``: ``line_id`` PK, ``invoice_no`` (``C`` prefix = cancellation), ``stock_code``,
  ``quantity`` (negative for cancellations and returns), ``unit_price``, ``customer_id INTEGER``
  (NULL = no customer), ``invoiced_at``, ``updated_at``.

There is no revenue column: the mapping derives it (quantity x unit price).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from b2brec.datagen.realistic import FIRST_CUSTOMER_ID, NON_PRODUCT_CATEGORY, NON_PRODUCTS, InvoiceChunk, RealisticWorld

# list price shown for each non-product line in the products table
_NON_PRODUCT_PRICE = {"POST": 18.0, "DOT": 12.0, "C2": 50.0, "BANK CHARGES": 15.0}


def realistic_metadata(dialect: str) -> sa.MetaData:
    money: sa.types.TypeEngine = sa.Float() if dialect == "sqlite" else sa.Numeric(12, 2, asdecimal=False)
    opts: dict[str, Any] = {"mysql_charset": "utf8mb4", "mariadb_charset": "utf8mb4"}
    md = sa.MetaData()
    sa.Table(
        "customers",
        md,
        sa.Column("customer_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("country", sa.String(60), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        **opts,
    )
    sa.Table(
        "products",
        md,
        sa.Column("stock_code", sa.String(16), primary_key=True),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("subcategory", sa.String(100), nullable=False),
        sa.Column("list_price", money, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        **opts,
    )
    sa.Table(
        "sales",
        md,
        sa.Column("line_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("invoice_no", sa.String(12), nullable=False),
        sa.Column("stock_code", sa.String(16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", money, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("invoiced_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        **opts,
    )
    return md


def _ts(epoch: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(epoch, dtype=np.int64).astype("datetime64[s]"), pa.timestamp("s"))


def realistic_customers_table(rw: RealisticWorld) -> pa.Table:
    c = rw.base.customers
    return pa.table(
        {
            "customer_id": pa.array(FIRST_CUSTOMER_ID + np.arange(len(c.names)), pa.int32()),
            "country": pa.array(rw.country, pa.string()),
            "city": pa.array(rw.city, pa.string()),
            "created_at": _ts(c.created_at),
            "updated_at": _ts(c.updated_at),
        }
    )


def realistic_products_table(rw: RealisticWorld) -> pa.Table:
    p = rw.base.catalog
    fees = [(code, desc, sub, _NON_PRODUCT_PRICE.get(code, 0.0)) for code, desc, sub in NON_PRODUCTS]
    return pa.table(
        {
            "stock_code": pa.array(rw.product_codes, pa.string()),
            "description": pa.array([n.upper() for n in p.names] + [f[1] for f in fees], pa.string()),
            "category": pa.array([p.categories[i] for i in p.category] + [NON_PRODUCT_CATEGORY] * len(fees)),
            "subcategory": pa.array([p.subcategories[i] for i in p.subcategory] + [f[2] for f in fees]),
            "list_price": pa.array(np.concatenate([p.price, [f[3] for f in fees]]), pa.float64()),
            "updated_at": _ts(np.concatenate([p.updated_at, np.full(len(fees), p.updated_at.min())])),
        }
    )


def realistic_sales_table(chunk: InvoiceChunk, codes: pa.Array) -> pa.Table:
    invoice = pa.array(chunk.invoice.astype(str))
    cancelled = pa.array(chunk.cancelled)
    prefixed = pa.compute.binary_join_element_wise("C", invoice, "")
    customer = np.where(chunk.customer >= 0, FIRST_CUSTOMER_ID + chunk.customer, 0)
    return pa.table(
        {
            "line_id": pa.array(chunk.line_id, pa.int64()),
            "invoice_no": pa.compute.if_else(cancelled, prefixed, invoice),
            "stock_code": codes.take(pa.array(chunk.product)),
            "quantity": pa.array(chunk.quantity, pa.int32()),
            "unit_price": pa.array(chunk.unit_price, pa.float64()),
            "customer_id": pa.array(customer, pa.int32(), mask=chunk.customer < 0),
            "invoiced_at": _ts(chunk.sold_at),
            "updated_at": _ts(chunk.updated_at),
        }
    )


def realistic_mapping(source: str = "erp") -> dict[str, Any]:
    """The ClientSpec ``mapping`` section for a realistic-mode database named ``source``.

    Revenue is derived (quantity x unit price), cancellations are ``C`` invoices, returns are
    netted against earlier purchases, and postage/fee lines are excluded by category.
    """
    return {
        "customers": {
            "source": source,
            "table": "customers",
            "columns": {"customer_id": "customer_id", "city": "city", "updated_at": "updated_at"},
            "cursor": "updated_at",
        },
        "products": {
            "source": source,
            "table": "products",
            "columns": {
                "product_id": "stock_code",
                "name": "description",
                "category": "category",
                "subcategory": "subcategory",
                "price": "list_price",
                "updated_at": "updated_at",
            },
            "cursor": "updated_at",
        },
        "transactions": {
            "source": source,
            "table": "sales",
            "columns": {
                "transaction_id": "line_id",
                "invoice_id": "invoice_no",
                "customer_id": "customer_id",
                "product_id": "stock_code",
                "quantity": "quantity",
                "timestamp": "invoiced_at",
                "updated_at": "updated_at",
            },
            "derived": {"revenue": "quantity * unit_price"},
            "cursor": "updated_at",
            "rules": {
                "cancellation_prefixes": ["C"],
                "negative_quantity": "net",
                "exclude_categories": [NON_PRODUCT_CATEGORY],
            },
        },
    }
