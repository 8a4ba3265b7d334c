"""Warehouse browsing and read-only saved views (BigQuery SQL, checked with sqlglot).

A saved view must be one SELECT over the client's own datasets: no DML/DDL, no other project, no
table functions; it runs with a row limit. Table names shown come from the platform contract, so
nothing a user types is pasted into SQL except a checked view.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from b2brec.naming import DATASETS
from client_app import activity, validation
from client_app.errors import AppError
from client_app.extensions import db
from client_app.models import SavedView
from client_app.warehouse import query, table_exists

BROWSABLE: tuple[tuple[str, str], ...] = (
    ("raw_data", "transactions"),
    ("raw_data", "products"),
    ("raw_data", "customers"),
    ("raw_data", "_etl_runs"),
    ("predictions", "recommendation_history"),
)
PAGE = 25
VIEW_LIMIT = 200


def tables() -> list[dict[str, Any]]:
    out = []
    for dataset, table in BROWSABLE:
        if table_exists(dataset, table):
            n = query(f"SELECT COUNT(*) AS n FROM {dataset}.{table}")[0]["n"]
            out.append({"dataset": dataset, "table": table, "rows": int(n or 0)})
    return out


def _known(dataset: str, table: str) -> tuple[str, str]:
    if (dataset, table) not in BROWSABLE:
        raise AppError(
            f"no browsable table {dataset[:30]}.{table[:40]}", code="not_found", fix="pick one from the list"
        )
    return dataset, table


def page(dataset: str, table: str, number: int) -> dict[str, Any]:
    dataset, table = _known(dataset, table)
    offset = (max(number, 1) - 1) * PAGE
    rows = query(f"SELECT * FROM {dataset}.{table} LIMIT {PAGE} OFFSET {offset}")
    return {"rows": rows, "columns": list(rows[0]) if rows else [], "page": max(number, 1), "size": PAGE}


def coverage() -> list[tuple[str, float]]:
    """Sales lines per month (the date coverage chart)."""
    if not table_exists("raw_data", "transactions"):
        return []
    rows = query(
        "SELECT FORMAT_TIMESTAMP('%Y-%m', timestamp) AS month, COUNT(*) AS n FROM raw_data.transactions "
        "GROUP BY month ORDER BY month"
    )
    return [(str(r["month"]), float(r["n"])) for r in rows]


def check_view_sql(sql: str) -> str:
    """The SQL if it is one SELECT over the client's datasets; else an AppError saying why."""
    text = validation.text(sql.replace("\n", " ").replace("\r", " ").replace("\t", " "), "SQL", max_len=5000)
    try:
        statements = [s for s in sqlglot.parse(text, read="bigquery") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise AppError(
            f"the SQL does not parse: {str(exc).splitlines()[0][:200]}",
            code="sql_refused",
            fix="write one BigQuery SELECT statement",
        ) from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise AppError("only one SELECT statement is allowed", code="sql_refused", fix="remove other statements")
    tree = statements[0]
    for node in tree.walk():
        if isinstance(node, exp.Insert | exp.Update | exp.Delete | exp.Create | exp.Drop | exp.Merge | exp.Command):
            raise AppError("a view can only read", code="sql_refused", fix="remove INSERT/UPDATE/DELETE/DDL")
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.name in ctes and not table.db:
            continue
        if table.catalog or table.db not in DATASETS:
            raise AppError(
                f"table {table.sql(dialect='bigquery')[:80]} is outside your datasets",
                code="sql_refused",
                fix=f"read only from {', '.join(DATASETS)} (as dataset.table)",
            )
    if any(isinstance(n, exp.Anonymous) for n in tree.find_all(exp.Anonymous)):
        raise AppError("unknown functions are not allowed in views", code="sql_refused", fix="use standard functions")
    return text


def save_view(name: Any, sql: Any, actor: str) -> SavedView:
    label = validation.identifier(name, "view name")
    checked = check_view_sql(str(sql or ""))
    if db.session.scalar(db.select(SavedView).where(SavedView.name == label)):
        raise AppError(f"a view named {label} exists", code="conflict", fix="pick another name")
    view = SavedView(name=label, sql=checked, created_by=actor)
    db.session.add(view)
    activity.record("view.create", label, actor=actor)
    db.session.commit()
    return view


def views() -> list[SavedView]:
    return list(db.session.scalars(db.select(SavedView).order_by(SavedView.name)))


def run_view(view_id: int) -> dict[str, Any]:
    view = db.session.get(SavedView, view_id)
    if view is None:
        raise AppError("no such view", code="not_found", fix="pick one from the list")
    sql = check_view_sql(view.sql)
    rows = query(f"SELECT * FROM ({sql}) LIMIT {VIEW_LIMIT}")
    return {"name": view.name, "sql": view.sql, "rows": rows, "columns": list(rows[0]) if rows else []}
