"""Feature availability (from the mapping) and the training choices: which optional features are
used, the window, the time decay and the revenue coverage.

The trainer uses every feature the mapping provides unless the client leaves it out here (the run's
metadata lists it as missing; ``RunOptions.exclude_features``); the required four are always used.
The choices are kept in the app database and every later run starts from them (``chosen_options``,
read by the training launcher and scheduled retraining); the page shows what a choice keeps before
saving or training.
"""

from __future__ import annotations

from typing import Any

from b2brec.features import FEATURE_CONTRACT
from client_app import activity, validation
from client_app.client import current_client
from client_app.connections.services import effective_spec
from client_app.errors import AppError
from client_app.extensions import db
from client_app.models import get_preference, set_preference
from client_app.warehouse import query, table_exists

KEY = "feature_choices"


def availability() -> list[dict[str, Any]]:
    spec = effective_spec()
    rows = []
    for item in FEATURE_CONTRACT:
        feature, table, column = item.name, item.table, item.column
        mapping = spec.mapping.get(table)
        provided = mapping is not None and column in mapping.columns
        if feature == "revenue" and not provided and mapping is not None:
            products = spec.mapping.get("products")
            provided = "quantity" in mapping.columns and products is not None and "price" in products.columns
        rows.append(
            {
                "feature": feature,
                "source": f"{table}.{column}",
                "provided": provided,
                "required": item.required,
                "tower": item.tower,
            }
        )
    return rows


def current_choice() -> dict[str, Any]:
    """What the next run uses: the client spec's pipeline defaults, overridden by the saved choices."""
    p = current_client().base_spec.pipeline
    return {
        "window_days": p.window_days,
        "revenue_coverage": p.revenue_coverage,
        "half_life_days": p.half_life_days,
        "exclude_features": [],
        **chosen_options(),
    }


def chosen_options() -> dict[str, Any]:
    """The saved choices as ``RunOptions`` fields (empty: the spec's defaults)."""
    return dict(get_preference(KEY, {}) or {})


def optional_provided() -> list[str]:
    """Optional features the mapping provides: the ones a client may choose to leave out."""
    return [row["feature"] for row in availability() if row["provided"] and not row["required"]]


def parse(form: dict[str, Any], features: list[str] | None) -> dict[str, Any]:
    """Validate a choice (each field with its fix); ``features``: the optional features ticked."""
    provided = optional_provided()
    chosen = provided if features is None else list(features)
    if any(f not in provided for f in chosen):  # not echoed: it may be anything
        raise AppError(
            "a chosen feature is not one your mapping provides",
            fix=f"tick only these: {', '.join(provided) or 'none (the mapping provides no optional feature)'}",
        )
    return {
        "window_days": validation.integer(form.get("window_days"), "window (days)", low=7, high=3650),
        "revenue_coverage": validation.number(form.get("revenue_coverage"), "revenue coverage", low=0.05, high=1.0),
        "half_life_days": validation.number(
            form.get("half_life_days"), "time decay half-life (days)", low=1, high=3650
        ),
        "exclude_features": [f for f in provided if f not in chosen],
    }


def save(form: dict[str, Any], features: list[str], actor: str) -> dict[str, Any]:
    """Validate and keep the choices for the next runs; nothing is saved when a field is wrong."""
    choices = parse(form, features)
    set_preference(KEY, choices)
    activity.record("features.save", "", str(choices), actor=actor)
    db.session.commit()
    return choices


def kept(window_days: int, revenue_coverage: float) -> dict[str, int]:
    """Customers, products and rows a window and coverage keep (products covering that share of revenue)."""
    if not table_exists("raw_data", "transactions"):
        return {"customers": 0, "products": 0, "rows": 0}
    sql = """
    WITH w AS (
      SELECT * FROM raw_data.transactions
      WHERE timestamp >= TIMESTAMP_SUB((SELECT MAX(timestamp) FROM raw_data.transactions), INTERVAL @days DAY)),
    p AS (SELECT product_id, SUM(COALESCE(revenue, 0)) AS r FROM w GROUP BY product_id),
    c AS (SELECT product_id, SUM(r) OVER (ORDER BY r DESC, product_id) / NULLIF(SUM(r) OVER (), 0) AS cum,
                 r / NULLIF(SUM(r) OVER (), 0) AS share FROM p),
    keep AS (SELECT product_id FROM c WHERE cum - share < @coverage)
    SELECT COUNT(DISTINCT w.customer_id) AS customers, COUNT(DISTINCT w.product_id) AS products, COUNT(*) AS n
    FROM w JOIN keep USING (product_id)
    """
    row = query(sql, {"days": window_days, "coverage": revenue_coverage})[0]
    return {"customers": int(row["customers"] or 0), "products": int(row["products"] or 0), "rows": int(row["n"] or 0)}
