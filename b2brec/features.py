"""The platform's data contract: warehouse tables in ``raw_data`` and the model's features.

Client databases are mapped onto these tables by the ClientSpec; everything downstream
(extractor, trainer, serving) reads only these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["string", "float", "integer", "timestamp"]


@dataclass(frozen=True, kw_only=True)
class Column:
    name: str
    type: ColumnType
    required: bool
    doc: str


@dataclass(frozen=True, kw_only=True)
class PlatformTable:
    """One table of ``raw_data``: its key, and the columns a client may map."""

    name: str
    primary_key: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


TRANSACTIONS = PlatformTable(
    name="transactions",
    primary_key="transaction_id",
    columns=(
        Column(name="transaction_id", type="string", required=True, doc="Unique id of the sales line."),
        Column(name="customer_id", type="string", required=True, doc="Buying customer."),
        Column(name="product_id", type="string", required=True, doc="Product sold."),
        Column(name="timestamp", type="timestamp", required=True, doc="When the sale happened."),
        Column(name="quantity", type="float", required=False, doc="Units sold."),
        Column(name="revenue", type="float", required=False, doc="Line revenue; else quantity x price."),
        Column(name="updated_at", type="timestamp", required=False, doc="Last change; incremental cursor."),
        Column(
            name="invoice_id", type="string", required=False, doc="Invoice/order number (cancellation prefix rules)."
        ),
    ),
)

PRODUCTS = PlatformTable(
    name="products",
    primary_key="product_id",
    columns=(
        Column(name="product_id", type="string", required=True, doc="Product key."),
        Column(name="name", type="string", required=False, doc="Product name (feature art_name)."),
        Column(name="category", type="string", required=False, doc="Top-level category."),
        Column(name="subcategory", type="string", required=False, doc="Second-level category."),
        Column(name="price", type="float", required=False, doc="List price per unit."),
        Column(name="updated_at", type="timestamp", required=False, doc="Last change; incremental cursor."),
    ),
)

CUSTOMERS = PlatformTable(
    name="customers",
    primary_key="customer_id",
    columns=(
        Column(name="customer_id", type="string", required=True, doc="Customer key."),
        Column(name="name", type="string", required=False, doc="Customer display name."),
        Column(name="city", type="string", required=False, doc="City (or the finest location known)."),
        Column(name="segment", type="string", required=False, doc="Business segment, e.g. restaurant."),
        Column(name="updated_at", type="timestamp", required=False, doc="Last change; incremental cursor."),
    ),
)

PLATFORM_TABLES: dict[str, PlatformTable] = {t.name: t for t in (TRANSACTIONS, PRODUCTS, CUSTOMERS)}
RAW_DATASET = "raw_data"

FEATURES: tuple[str, ...] = (
    "customer_id",
    "product_id",
    "revenue",
    "city",
    "timestamp",
    "art_name",
    "category",
    "subcategory",
)
"""The model's eight features, as in the system this replaces."""

REQUIRED_FEATURES: tuple[str, ...] = ("customer_id", "product_id", "timestamp", "revenue")
"""Features a client must provide (revenue may be derived from quantity x price)."""

QUERY_FEATURES: tuple[str, ...] = ("customer_id", "city", "revenue", "timestamp")
CANDIDATE_FEATURES: tuple[str, ...] = ("product_id", "art_name", "category", "subcategory")

FEATURE_SOURCES: dict[str, tuple[str, str]] = {
    "customer_id": ("transactions", "customer_id"),
    "product_id": ("transactions", "product_id"),
    "revenue": ("transactions", "revenue"),
    "timestamp": ("transactions", "timestamp"),
    "city": ("customers", "city"),
    "art_name": ("products", "name"),
    "category": ("products", "category"),
    "subcategory": ("products", "subcategory"),
}
"""Where each feature comes from in ``raw_data`` (table, column)."""
