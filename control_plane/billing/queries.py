"""Billing SQL, written once in BigQuery dialect against the export's own column names and
transpiled with sqlglot for DuckDB locally. ``{table}`` is the export table (on GCP the
``project.dataset.gcp_billing_export_v1_XXXX`` table)."""

from __future__ import annotations

from functools import lru_cache

import sqlglot

from b2brec.billing_export import CLIENT_ID, CREDITS, DUCKDB_EQUIVALENTS, NET_COST, RUN_ID

CLIENT = CLIENT_ID

MONTH_BY_CLIENT = f"""
SELECT {CLIENT} AS client_id, ANY_VALUE(project.id) AS project_id, ROUND(SUM({NET_COST}), 2) AS cost,
       ANY_VALUE(currency) AS currency
FROM {{table}}
WHERE invoice.month = @month
GROUP BY client_id
ORDER BY cost DESC
"""

MONTH_BY_SERVICE = f"""
SELECT service.description AS service, ROUND(SUM({NET_COST}), 2) AS cost
FROM {{table}}
WHERE invoice.month = @month AND (@client = '' OR {CLIENT} = @client)
GROUP BY service
ORDER BY cost DESC
"""

DAILY = f"""
SELECT DATE(usage_start_time) AS day, ROUND(SUM({NET_COST}), 4) AS cost
FROM {{table}}
WHERE invoice.month = @month AND (@client = '' OR {CLIENT} = @client)
GROUP BY day
ORDER BY day
"""

MONTH_TOTAL = f"""
SELECT ROUND(SUM({NET_COST}), 2) AS cost FROM {{table}} WHERE invoice.month = @month
"""

PER_RUN = f"""
SELECT {RUN_ID} AS run_id,
       MIN(usage_start_time) AS started, ROUND(SUM({NET_COST}), 4) AS cost, COUNT(*) AS jobs
FROM {{table}}
WHERE {CLIENT} = @client AND service.description = 'Vertex AI'
GROUP BY run_id
ORDER BY started DESC
LIMIT 50
"""

DAILY_BY_CLIENT = f"""
SELECT {CLIENT} AS client_id, DATE(usage_start_time) AS day, SUM({NET_COST}) AS cost
FROM {{table}}
WHERE usage_start_time >= TIMESTAMP(@since)
GROUP BY client_id, day
"""

STATEMENT = f"""
SELECT service.description AS service, sku.description AS sku, SUM(usage.amount) AS usage_amount,
       ANY_VALUE(usage.unit) AS usage_unit, ROUND(SUM(cost), 2) AS cost,
       ROUND(SUM({CREDITS}), 2) AS credits,
       ANY_VALUE(currency) AS currency
FROM {{table}}
WHERE invoice.month = @month AND {CLIENT} = @client
GROUP BY service, sku
ORDER BY service, sku
"""

RUN_COUNTS = f"""
SELECT COUNT(DISTINCT IF(usage_start_time >= TIMESTAMP(@day), run_id, NULL)) AS day,
       COUNT(DISTINCT IF(usage_start_time >= TIMESTAMP(@week), run_id, NULL)) AS week,
       COUNT(DISTINCT run_id) AS month
FROM (
  SELECT usage_start_time, {RUN_ID} AS run_id
  FROM {{table}}
  WHERE service.description = 'Vertex AI' AND usage_start_time >= TIMESTAMP(@month)
)
"""


@lru_cache(maxsize=64)
def for_duckdb(sql: str, table: str = "billing_export") -> str:
    """The BigQuery query above as DuckDB SQL (named parameters become ``$name``); the shared
    fragments become their DuckDB list-function equivalents (see ``b2brec.billing_export``)."""
    text = sql.format(table=table)
    slots = {}
    for i, (fragment, native) in enumerate(sorted(DUCKDB_EQUIVALENTS.items(), key=lambda kv: -len(kv[0]))):
        slot = f"b2b_fragment_{i}"
        if fragment in text:
            text = text.replace(fragment, f"{slot}()")
            slots[slot] = native
    out = sqlglot.transpile(text, read="bigquery", write="duckdb")[0]
    for slot, native in slots.items():
        out = out.replace(f"{slot.upper()}()", f"({native})").replace(f"{slot}()", f"({native})")
    if "b2b_fragment_" in out.lower():
        raise ValueError(f"a billing fragment was not replaced in: {out}")
    return out
