"""Propose a column mapping from an introspected schema: known synonyms, best name match first."""

from __future__ import annotations

from b2brec.features import PLATFORM_TABLES

TABLE_NAMES: dict[str, tuple[str, ...]] = {
    "transactions": ("transactions", "sales", "order_lines", "orderlines", "sales_lines", "invoice_lines", "orders"),
    "products": ("products", "articles", "items", "product", "catalog", "catalogue"),
    "customers": ("customers", "clients", "accounts", "customer", "debtors"),
}
COLUMN_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "transactions": {
        "transaction_id": ("transaction_id", "line_id", "order_line_id", "id", "sales_line_id", "invoice_line_id"),
        "customer_id": ("customer_id", "cust_id", "client_id", "account_id", "customer"),
        "product_id": ("product_id", "sku", "article_id", "item_id", "product", "article"),
        "timestamp": ("timestamp", "sold_at", "order_date", "ordered_at", "invoice_date", "created_at", "date"),
        "quantity": ("quantity", "qty", "units", "amount_units"),
        "revenue": ("revenue", "amount", "line_total", "net_amount", "total", "sales_amount", "turnover"),
        "updated_at": ("updated_at", "modified_at", "last_modified", "changed_at"),
    },
    "products": {
        "product_id": ("product_id", "sku", "article_id", "item_id", "id"),
        "name": ("name", "product_name", "art_name", "article_name", "title", "description"),
        "category": ("category", "category_name", "product_group", "group"),
        "subcategory": ("subcategory", "sub_category", "subcategory_name", "subgroup"),
        "price": ("price", "unit_price", "list_price", "sales_price"),
        "updated_at": ("updated_at", "modified_at", "last_modified", "changed_at"),
    },
    "customers": {
        "customer_id": ("customer_id", "cust_id", "client_id", "account_id", "id"),
        "name": ("name", "company_name", "customer_name", "company"),
        "city": ("city", "town", "location", "region", "country"),
        "segment": ("segment", "customer_segment", "industry", "type"),
        "updated_at": ("updated_at", "modified_at", "last_modified", "changed_at"),
    },
}


def _pick(candidates: tuple[str, ...], available: list[str]) -> str | None:
    lowered = {name.lower(): name for name in available}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    return None


def propose(schema: dict[str, list[str]]) -> dict[str, dict[str, object]]:
    """``schema`` is table → columns; returns platform table → {table, columns, cursor} for the tables
    whose required columns could all be matched."""
    proposal: dict[str, dict[str, object]] = {}
    for platform, names in TABLE_NAMES.items():
        table = _pick(names, list(schema))
        if table is None:
            continue
        columns: dict[str, str] = {}
        for column, synonyms in COLUMN_NAMES[platform].items():
            found = _pick(synonyms, schema[table])
            if found is not None and found not in columns.values():
                columns[column] = found
        if all(c in columns for c in PLATFORM_TABLES[platform].required_columns):
            proposal[platform] = {
                "table": table,
                "columns": columns,
                "cursor": "updated_at" if "updated_at" in columns else None,
            }
    return proposal
