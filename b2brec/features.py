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

FeatureTower = Literal["query", "candidate"]
Encoding = Literal["ids", "tokens", "buckets"]
"""How the model encodes a feature: a vocabulary of ids, word tokens (product names), or buckets."""


@dataclass(frozen=True, kw_only=True)
class Feature:
    """One of the model's eight features: where it is read from in ``raw_data`` and how it is used."""

    name: str
    table: str
    """The ``raw_data`` table it is read from."""
    column: str
    """The column of that table (``art_name`` is ``products.name``)."""
    dtype: Literal["string", "float", "timestamp"]
    required: bool
    """Required features stop the extractor when missing; a missing optional one is left out of its tower."""
    tower: FeatureTower
    encoding: Encoding
    doc: str


FEATURE_CONTRACT: tuple[Feature, ...] = (
    Feature(
        name="customer_id",
        table="transactions",
        column="customer_id",
        dtype="string",
        required=True,
        tower="query",
        encoding="ids",
        doc="The buying customer.",
    ),
    Feature(
        name="product_id",
        table="transactions",
        column="product_id",
        dtype="string",
        required=True,
        tower="candidate",
        encoding="ids",
        doc="The product sold.",
    ),
    Feature(
        name="revenue",
        table="transactions",
        column="revenue",
        dtype="float",
        required=True,
        tower="query",
        encoding="buckets",
        doc="Line revenue; derived as quantity x products.price where the client has no revenue column.",
    ),
    Feature(
        name="city",
        table="customers",
        column="city",
        dtype="string",
        required=False,
        tower="query",
        encoding="ids",
        doc="The customer's city (or the finest location known).",
    ),
    Feature(
        name="timestamp",
        table="transactions",
        column="timestamp",
        dtype="timestamp",
        required=True,
        tower="query",
        encoding="buckets",
        doc="When the sale happened (UTC).",
    ),
    Feature(
        name="art_name",
        table="products",
        column="name",
        dtype="string",
        required=False,
        tower="candidate",
        encoding="tokens",
        doc="Product name, used as word tokens.",
    ),
    Feature(
        name="category",
        table="products",
        column="category",
        dtype="string",
        required=False,
        tower="candidate",
        encoding="ids",
        doc="Top-level product category.",
    ),
    Feature(
        name="subcategory",
        table="products",
        column="subcategory",
        dtype="string",
        required=False,
        tower="candidate",
        encoding="ids",
        doc="Second-level product category.",
    ),
)
"""The model's eight features, as in the system this replaces. Every list below is derived from this."""

FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURE_CONTRACT)
REQUIRED_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURE_CONTRACT if f.required)
OPTIONAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURE_CONTRACT if not f.required)
STRING_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURE_CONTRACT if f.dtype == "string")
ID_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURE_CONTRACT if f.encoding == "ids")
"""Features with a vocabulary of ids (the vocab stage builds one per feature present)."""
QUERY_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURE_CONTRACT if f.tower == "query")
CANDIDATE_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURE_CONTRACT if f.tower == "candidate")
PRODUCT_ATTRIBUTES: tuple[str, ...] = tuple(f for f in CANDIDATE_FEATURES if f != "product_id")
"""What the catalog says about a product: the candidate tower's features besides the id."""
CUSTOMER_ATTRIBUTES: tuple[str, ...] = tuple(f.name for f in FEATURE_CONTRACT if f.table == "customers")
"""What the customers table says about a customer (the city)."""


def feature(name: str) -> Feature:
    """The contract entry of ``name`` (e.g. to find its column: ``feature("art_name").column == "name"``)."""
    for item in FEATURE_CONTRACT:
        if item.name == name:
            return item
    raise KeyError(f"{name!r} is not a feature; features are {', '.join(FEATURES)}")


def derived_revenue_sql(transactions: str = "t", products: str = "p") -> str:
    """The revenue rule, in SQL: a line's revenue is quantity x the product's price when the client
    has no revenue (no column, or NULL). Used by the ETL (filled in after loading) and the extractor."""
    return f"{transactions}.quantity * {products}.price"
