"""Row rules of real ERP data, applied when transactions are read (training, serving), as SQL.

``raw_data.transactions`` keeps the client's rows as loaded; :func:`cleaned_sql` is a query
over it (BigQuery dialect, transpiled for DuckDB like every warehouse query) that

1. drops cancellations: invoice numbers starting with a configured prefix;
2. drops excluded products (by id, or by category through ``raw_data.products``);
3. for the other lines with a negative quantity (returns), either keeps them, drops them, or
   *nets* them: a customer's returned quantity of a product is taken off their latest purchases
   of it at or before the (last) return, newest first; a purchase returned in full disappears,
   a partly returned one keeps the rest (revenue in proportion).

:func:`rule_counts` says how many lines each rule removed (``RuleCounts``); the ETL and the
extract stage report it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime

import sqlglot.expressions as exp

from b2brec.backends.warehouse import Warehouse
from b2brec.features import RAW_DATASET
from b2brec.spec.clientspec import RowRules

_T = f"{RAW_DATASET}.transactions"
_P = f"{RAW_DATASET}.products"


def _literal(value: str) -> str:
    return exp.Literal.string(value).sql(dialect="bigquery")


def _in_list(column: str, values: Collection[str]) -> str:
    return f"{column} IN ({', '.join(_literal(v) for v in values)})"


def _flags(rules: RowRules, columns: Collection[str]) -> tuple[str, str, str]:
    """(cancel, excluded, join) SQL fragments for ``base``."""
    cancel = "FALSE"
    if rules.cancellation_prefixes and "invoice_id" in columns:
        tests = [
            f"SUBSTR(CAST(t.invoice_id AS STRING), 1, {len(p)}) = {_literal(p)}" for p in rules.cancellation_prefixes
        ]
        cancel = f"COALESCE({' OR '.join(tests)}, FALSE)"
    excluded_parts = []
    join = ""
    if rules.exclude_products:
        excluded_parts.append(f"COALESCE({_in_list('CAST(t.product_id AS STRING)', rules.exclude_products)}, FALSE)")
    if rules.exclude_categories:
        join = (
            f"LEFT JOIN (SELECT DISTINCT CAST(product_id AS STRING) AS product_id, category FROM {_P}) AS p "
            "ON p.product_id = CAST(t.product_id AS STRING)"
        )
        excluded_parts.append(f"COALESCE({_in_list('CAST(p.category AS STRING)', rules.exclude_categories)}, FALSE)")
    excluded = " OR ".join(excluded_parts) or "FALSE"
    return cancel, f"({excluded})", join


def _base(rules: RowRules, columns: Collection[str]) -> str:
    cancel, excluded, join = _flags(rules, columns)
    listed = ", ".join(f"t.`{c}`" for c in columns)
    return f"SELECT {listed}, {cancel} AS _cancel, {excluded} AS _excluded FROM {_T} AS t {join}"


def cleaned_sql(rules: RowRules | None, columns: Collection[str]) -> str:
    """A query returning ``columns`` of the transactions that are sales under ``rules``.

    ``columns`` are the columns of ``raw_data.transactions`` (from the warehouse); with no
    active rule this is the table itself.
    """
    columns = list(columns)
    if rules is None or not rules.active:
        return f"SELECT {', '.join(f'`{c}`' for c in columns)} FROM {_T}"
    base = _base(rules, columns)
    has_quantity = "quantity" in columns
    keep = "NOT _cancel AND NOT _excluded"
    if not has_quantity or rules.negative_quantity == "keep":
        return f"WITH base AS ({base}) SELECT {_select(columns)} FROM base WHERE {keep}"
    if rules.negative_quantity == "drop":
        positive = "NOT COALESCE(quantity < 0, FALSE)"
        return f"WITH base AS ({base}) SELECT {_select(columns)} FROM base WHERE {keep} AND {positive}"
    remaining = "_kept IS NULL OR _kept > 0 OR quantity = 0"
    return f"WITH {_netting_ctes(base)} SELECT {_select(columns, netted=True)} FROM kept WHERE {remaining}"


def _netting_ctes(base: str) -> str:
    keep = "NOT _cancel AND NOT _excluded"
    return f"""base AS ({base}),
returns AS (
  SELECT customer_id, product_id, SUM(-quantity) AS _returned, MAX(`timestamp`) AS _last_return
  FROM base WHERE {keep} AND quantity < 0 AND customer_id IS NOT NULL GROUP BY customer_id, product_id
),
netted AS (
  SELECT b.*, r._returned, r._last_return,
    SUM(IF(r._returned IS NOT NULL AND b.`timestamp` <= r._last_return, b.quantity, 0)) OVER (
      PARTITION BY b.customer_id, b.product_id ORDER BY b.`timestamp` DESC, b.transaction_id DESC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _newer
  FROM base AS b LEFT JOIN returns AS r ON b.customer_id = r.customer_id AND b.product_id = r.product_id
  WHERE NOT b._cancel AND NOT b._excluded AND (b.quantity IS NULL OR b.quantity >= 0)
),
kept AS (
  SELECT *, IF(_returned IS NULL OR `timestamp` > _last_return, quantity,
    GREATEST(0.0, LEAST(quantity, _newer - _returned))) AS _kept
  FROM netted
)"""


def _select(columns: list[str], *, netted: bool = False) -> str:
    out = []
    for c in columns:
        if netted and c == "quantity":
            out.append("CAST(_kept AS FLOAT64) AS quantity")
        elif netted and c == "revenue":
            out.append(
                "CAST(IF(_kept IS NULL OR quantity = 0, revenue, revenue * _kept / quantity) AS FLOAT64) AS revenue"
            )
        else:
            out.append(f"`{c}`")
    return ", ".join(out)


@dataclass(frozen=True)
class RuleCounts:
    """Lines of ``raw_data.transactions`` (in a window, if one was given) and what the rules did to them."""

    lines: int = 0
    kept: int = 0
    cancelled: int = 0  # on a cancellation invoice (prefix)
    excluded: int = 0  # excluded products (postage, fees...)
    negative: int = 0  # negative quantity: dropped, or netted against earlier purchases
    returned_in_full: int = 0  # purchases taken out entirely by netting returns
    no_customer: int = 0  # lines without a customer: kept for popularity, not for a customer's history

    @property
    def rejected(self) -> int:
        """Lines removed as not being sales (cancellations, returns) — excluded products apart."""
        return self.cancelled + self.negative + self.returned_in_full

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "rejected": self.rejected}


def counts_sql(rules: RowRules | None, columns: Collection[str], *, window: bool = False) -> str:
    """One row of :class:`RuleCounts` fields. With ``window``, lines in ``[@window_start, @cutoff)``."""
    columns = list(columns)
    rules = rules or RowRules()
    where = " WHERE `timestamp` >= @window_start AND `timestamp` < @cutoff" if window else ""
    negative = "COUNTIF(NOT _cancel AND NOT _excluded AND quantity < 0)" if "quantity" in columns else "0"
    if rules.negative_quantity == "keep" or "quantity" not in columns:
        negative = "0"
    cleaned = cleaned_sql(rules, columns)
    return f"""WITH base AS ({_base(rules, columns)}),
stats AS (
  SELECT COUNT(*) AS lines, COUNTIF(_cancel) AS cancelled, COUNTIF(NOT _cancel AND _excluded) AS excluded,
    {negative} AS negative, COUNTIF(customer_id IS NULL) AS no_customer
  FROM base{where}
),
kept AS (SELECT COUNT(*) AS kept FROM ({cleaned}) AS c{where})
SELECT stats.*, kept.kept FROM stats CROSS JOIN kept"""


def rule_counts(
    warehouse: Warehouse,
    rules: RowRules | None,
    columns: Collection[str],
    *,
    window: tuple[datetime, datetime] | None = None,
) -> RuleCounts:
    params = {"window_start": window[0], "cutoff": window[1]} if window else None
    row = warehouse.query(counts_sql(rules, columns, window=window is not None), params).to_pylist()[0]
    lines, kept = int(row["lines"] or 0), int(row["kept"] or 0)
    cancelled, excluded, negative = (int(row[k] or 0) for k in ("cancelled", "excluded", "negative"))
    return RuleCounts(
        lines=lines,
        kept=kept,
        cancelled=cancelled,
        excluded=excluded,
        negative=negative,
        returned_in_full=max(0, lines - cancelled - excluded - negative - kept),
        no_customer=int(row["no_customer"] or 0),
    )


def excluded_products_sql(rules: RowRules | None) -> str | None:
    """Product ids the rules exclude (listed ids, and products of excluded categories), or None."""
    if rules is None or not (rules.exclude_products or rules.exclude_categories):
        return None
    parts = []
    if rules.exclude_products:
        parts.append(" UNION ALL ".join(f"SELECT {_literal(v)} AS product_id" for v in rules.exclude_products))
    if rules.exclude_categories:
        parts.append(
            f"SELECT CAST(product_id AS STRING) AS product_id FROM {_P} "
            f"WHERE {_in_list('CAST(category AS STRING)', rules.exclude_categories)}"
        )
    return f"SELECT DISTINCT product_id FROM ({' UNION ALL '.join(parts)}) AS x"
