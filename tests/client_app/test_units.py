"""Small pure parts of the client app, with hand-computable expectations."""

from __future__ import annotations

from client_app.connections.proposal import propose
from client_app.monitoring.services import quantile


def test_the_mapping_proposal_reads_the_demo_erp_schema() -> None:
    # the synthetic ERP's tables (b2brec.datagen.schema), plus a table that maps to nothing
    schema = {
        "customers": ["customer_id", "company_name", "city", "segment", "updated_at"],
        "products": ["sku", "product_name", "category", "subcategory", "unit_price", "updated_at"],
        "sales": ["line_id", "customer_id", "sku", "quantity", "amount", "sold_at", "updated_at"],
        "audit_log": ["id", "what"],
    }
    proposal = propose(schema)
    assert proposal["transactions"] == {
        "table": "sales",
        "columns": {
            "transaction_id": "line_id",
            "customer_id": "customer_id",
            "product_id": "sku",
            "timestamp": "sold_at",
            "quantity": "quantity",
            "revenue": "amount",
            "updated_at": "updated_at",
        },
        "cursor": "updated_at",
    }
    assert proposal["products"]["columns"] == {
        "product_id": "sku",
        "name": "product_name",
        "category": "category",
        "subcategory": "subcategory",
        "price": "unit_price",
        "updated_at": "updated_at",
    }
    assert proposal["customers"]["columns"]["name"] == "company_name"


def test_a_table_missing_a_required_column_is_not_proposed() -> None:
    # no timestamp-like column: transactions cannot be mapped automatically
    assert "transactions" not in propose({"orders": ["id", "customer_id", "sku", "amount"]})


def test_quantiles_interpolate_inside_the_prometheus_bucket() -> None:
    # cumulative counts: 50 requests <= 10 ms, 90 <= 20 ms, 100 <= 50 ms, none above
    buckets = [(0.01, 50.0), (0.02, 90.0), (0.05, 100.0), (float("inf"), 100.0)]
    assert quantile(buckets, 0.5) == 0.01  # the 50th request is the last of the first bucket
    # the 99th request: 9 of the 10 requests in (20 ms, 50 ms] -> 20 + 30 * 9/10 = 47 ms
    assert abs(quantile(buckets, 0.99) - 0.047) < 1e-12
    assert quantile([], 0.5) is None
