"""What the extractor reads from ``raw_data``: the window query (BigQuery dialect) and its columns.

The same SQL runs on BigQuery as written and on DuckDB after sqlglot transpiles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from b2brec.backends.warehouse import Warehouse
from b2brec.features import (
    CUSTOMERS,
    FEATURE_CONTRACT,
    PRODUCTS,
    RAW_DATASET,
    REQUIRED_FEATURES,
    TRANSACTIONS,
    derived_revenue_sql,
)
from b2brec.rowrules import cleaned_sql
from b2brec.spec.clientspec import RowRules
from trainer.errors import DataError

TABLE_ALIASES = {"transactions": "t", "products": "p", "customers": "c"}

# feature -> (table alias, column) for the optional features of products and customers
OPTIONAL_SOURCES: dict[str, tuple[str, str]] = {
    f.name: (TABLE_ALIASES[f.table], f.column) for f in FEATURE_CONTRACT if not f.required
}


@dataclass(frozen=True, kw_only=True)
class SourceColumns:
    transactions: frozenset[str]
    products: frozenset[str]
    customers: frozenset[str]

    def has(self, alias: str, column: str) -> bool:
        return column in {"t": self.transactions, "p": self.products, "c": self.customers}[alias]


def _columns(warehouse: Warehouse, table: str) -> frozenset[str]:
    return frozenset(warehouse.query(f"SELECT * FROM {RAW_DATASET}.{table} LIMIT 0").schema.names)


def discover(warehouse: Warehouse) -> SourceColumns:
    """Columns of the three platform tables; a missing transactions table or required column stops here."""
    if not warehouse.table_exists(RAW_DATASET, TRANSACTIONS.name):
        raise DataError(f"{RAW_DATASET}.{TRANSACTIONS.name} does not exist; load the client's data first (ETL)")
    found = {
        table.name: _columns(warehouse, table.name) if warehouse.table_exists(RAW_DATASET, table.name) else frozenset()
        for table in (TRANSACTIONS, PRODUCTS, CUSTOMERS)
    }
    # revenue is checked below: it may be derived from quantity x price
    needed = [f for f in REQUIRED_FEATURES if f != "revenue"]
    missing = [c for c in needed if c not in found["transactions"]]
    if missing:
        raise DataError(
            f"{RAW_DATASET}.transactions has no column {', '.join(missing)} (has {sorted(found['transactions'])}); "
            "map it in the ClientSpec and reload"
        )
    columns = SourceColumns(
        transactions=found["transactions"], products=found["products"], customers=found["customers"]
    )
    if "revenue" not in columns.transactions and not (
        "quantity" in columns.transactions and "price" in columns.products
    ):
        raise DataError(
            f"{RAW_DATASET}.transactions has no revenue column and no quantity x products.price to derive it; "
            "map revenue (or quantity and price) in the ClientSpec"
        )
    return columns


def revenue_expression(columns: SourceColumns) -> str:
    derivable = "quantity" in columns.transactions and "price" in columns.products
    derived = derived_revenue_sql("t", "p") if derivable else None
    if "revenue" in columns.transactions:
        return f"COALESCE(t.revenue, {derived})" if derived else "t.revenue"
    return str(derived)


def window_sql(columns: SourceColumns, features: tuple[str, ...], rules: RowRules | None = None) -> str:
    """Transactions in ``[@window_start, @cutoff)`` that are sales under the client's row ``rules``
    (cancellations, returns and excluded products taken out over the whole history first) and have a
    customer, joined with product metadata and customer city. Bind the bounds as timezone-aware (UTC)
    datetimes."""
    select = [
        "CAST(t.customer_id AS STRING) AS customer_id",
        "CAST(t.product_id AS STRING) AS product_id",
        "t.`timestamp` AS `timestamp`",
        f"CAST({revenue_expression(columns)} AS FLOAT64) AS revenue",
    ]
    for feature in features:
        if feature in OPTIONAL_SOURCES:
            alias, column = OPTIONAL_SOURCES[feature]
            select.append(f"CAST({alias}.{column} AS STRING) AS {feature}")
    joins = []
    if columns.products:
        joins.append(
            f"LEFT JOIN {RAW_DATASET}.products AS p ON CAST(p.product_id AS STRING) = CAST(t.product_id AS STRING)"
        )
    if columns.customers:
        joins.append(
            f"LEFT JOIN {RAW_DATASET}.customers AS c ON CAST(c.customer_id AS STRING) = CAST(t.customer_id AS STRING)"
        )
    return (
        "SELECT "
        + ", ".join(select)
        + f" FROM ({cleaned_sql(rules, sorted(columns.transactions))}) AS t "
        + " ".join(joins)
        + " WHERE t.`timestamp` >= @window_start AND t.`timestamp` < @cutoff AND t.customer_id IS NOT NULL"
    )


def product_revenue_sql(window: str) -> str:
    """Revenue per product over the training part (before ``@test_start``) of the window query's rows
    the extractor accepts (a customer and a product, non-negative revenue): the warehouse sums it, so
    the Beam pipeline can keep products without first holding every training row (bind
    ``window_start``, ``cutoff`` and ``test_start``)."""
    return (
        "SELECT TRIM(w.product_id) AS product_id, SUM(w.revenue) AS revenue "
        f"FROM ({window}) AS w "
        "WHERE w.`timestamp` < @test_start AND w.revenue >= 0 AND TRIM(w.product_id) != '' "
        "AND TRIM(w.customer_id) != '' GROUP BY 1"
    )


def earlier_pairs_sql(window: str, features: tuple[str, ...]) -> str:
    """Per (customer, product) over the window query's rows the extractor accepts: lines, last purchase
    (epoch seconds), revenue and the customer's city. Bound with ``window_start`` = the epoch and
    ``cutoff`` = the window's start, it summarises each customer's history *before* the window, so
    training can serve whole histories without extracting every old line."""
    city = ", ANY_VALUE(w.city) AS city" if "city" in features else ""
    return (
        "SELECT TRIM(w.customer_id) AS customer_id, TRIM(w.product_id) AS product_id, COUNT(*) AS n_lines, "
        f"UNIX_SECONDS(MAX(w.`timestamp`)) AS `timestamp`, SUM(w.revenue) AS revenue{city} "
        f"FROM ({window}) AS w "
        "WHERE w.revenue >= 0 AND TRIM(w.product_id) != '' AND TRIM(w.customer_id) != '' GROUP BY 1, 2"
    )


def available_features(warehouse: Warehouse, columns: SourceColumns) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(present, missing) optional features: a column that is absent or entirely NULL is missing."""
    present: list[str] = []
    missing: list[str] = []
    for feature, (alias, column) in OPTIONAL_SOURCES.items():
        table = {"p": "products", "c": "customers"}[alias]
        ok = columns.has(alias, column) and bool(
            warehouse.query(f"SELECT COUNT({column}) AS n FROM {RAW_DATASET}.{table}").column("n")[0].as_py()
        )
        (present if ok else missing).append(feature)
    return tuple(present), tuple(missing)


def default_cutoff(warehouse: Warehouse) -> datetime:
    """Midnight (UTC) after the latest transaction, so the default window ends with the newest data.

    The result is timezone-aware: bound against the warehouse's TIMESTAMPTZ column, a naive value
    would be read in the session's time zone and move the window edge with the machine's TZ."""
    latest = warehouse.query(f"SELECT MAX(`timestamp`) AS latest FROM {RAW_DATASET}.transactions").column("latest")
    value = latest[0].as_py() if len(latest) else None
    if value is None:
        raise DataError(f"{RAW_DATASET}.transactions is empty; load the client's data first (ETL)")
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC) + timedelta(days=1)
