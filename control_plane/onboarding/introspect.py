"""Read a source's schema and propose the table and column mapping from it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from b2brec.etl.mapping import mapped_select, reflect_table
from b2brec.etl.sources import SourceHandle
from b2brec.features import PLATFORM_TABLES
from b2brec.spec import TableMapping

TABLE_HINTS: dict[str, tuple[str, ...]] = {
    "transactions": ("sales", "orders", "order_lines", "transactions", "invoice_lines", "lines", "positions"),
    "products": ("products", "articles", "items", "artikel", "catalog", "skus"),
    "customers": ("customers", "clients", "accounts", "kunden", "buyers"),
}
COLUMN_HINTS: dict[str, tuple[str, ...]] = {
    "transaction_id": ("line_id", "transaction_id", "id", "order_line_id", "posnr", "line_no"),
    "customer_id": ("customer_id", "customer", "client_id", "account_id", "kundennr", "cust_id"),
    "product_id": ("product_id", "sku", "item_id", "article_id", "artikelnr", "product"),
    "timestamp": ("sold_at", "timestamp", "order_date", "created_at", "date", "belegdatum", "ordered_at"),
    "quantity": ("quantity", "qty", "units", "menge"),
    "revenue": ("amount", "revenue", "total", "line_total", "net_amount", "value"),
    "updated_at": ("updated_at", "modified_at", "last_modified", "geaendert_am", "changed_at"),
    "name": ("product_name", "company_name", "name", "title", "description", "bezeichnung", "firma"),
    "category": ("category", "product_group", "warengruppe", "group"),
    "subcategory": ("subcategory", "sub_category", "subgroup"),
    "price": ("unit_price", "price", "list_price", "vk_preis"),
    "city": ("city", "town", "ort", "location"),
    "segment": ("segment", "industry", "customer_type"),
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _best(hints: tuple[str, ...], names: list[str]) -> str | None:
    by_norm = {_norm(n): n for n in names}
    for hint in hints:
        if _norm(hint) in by_norm:
            return by_norm[_norm(hint)]
    return None


@dataclass(frozen=True)
class SourceSchema:
    tables: dict[str, list[str]]  # table -> columns, in source order


def read_schema(handle: SourceHandle) -> SourceSchema:
    inspector = sa.inspect(handle.engine())
    schema = handle.db_schema
    names = sorted(inspector.get_table_names(schema=schema)) + sorted(inspector.get_view_names(schema=schema))
    return SourceSchema({t: [c["name"] for c in inspector.get_columns(t, schema=schema)] for t in names[:200]})


def propose_mapping(schema: SourceSchema, source: str) -> dict[str, TableMapping]:
    """Best-guess mapping by table and column names; the operator reviews every line."""
    proposal: dict[str, TableMapping] = {}
    for platform_name, platform in PLATFORM_TABLES.items():
        table = _best(TABLE_HINTS[platform_name], list(schema.tables))
        if table is None:
            continue
        columns: dict[str, str] = {}
        for column in platform.column_names:
            hints = COLUMN_HINTS.get(column, (column,))
            if platform_name == "customers" and column == "name":
                hints = ("company_name", "customer_name", "name", "firma")
            match = _best(hints, schema.tables[table])
            if match is not None:
                columns[column] = match
        cursor = "updated_at" if "updated_at" in columns else None
        proposal[platform_name] = TableMapping(source=source, table=table, columns=columns, cursor=cursor)
    return proposal


def preview_rows(handle: SourceHandle, table_name: str, mapping: TableMapping, limit: int = 5) -> list[dict[str, Any]]:
    """A few real rows of ``table_name`` as the platform will read them (mapped names)."""
    table = reflect_table(handle.engine(), table_name, mapping, handle.db_schema)
    query = sa.select(mapped_select(table, table_name, mapping, handle.engine().dialect.name)).limit(limit)
    with handle.engine().connect() as conn:
        return [
            {k: (str(v) if v is not None else None) for k, v in row._mapping.items()} for row in conn.execute(query)
        ]
