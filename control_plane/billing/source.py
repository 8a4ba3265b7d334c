"""Where the billing queries run: the local DuckDB copy of the export (fed by metering) on the embedded
default, or the real Cloud Billing export table in BigQuery on GCP. The queries are the same BigQuery
SQL either way (``queries.py``); only the table they name and the engine differ."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Protocol

from flask import after_this_request, g, has_request_context

from b2brec.backends.factory import platform_warehouse
from b2brec.backends.warehouse import Warehouse
from b2brec.settings import Settings
from control_plane.billing import queries
from control_plane.billing.export import BillingExport
from control_plane.errors import ControlPlaneError
from control_plane.settings import ControlPlaneSettings


class BillingSource(Protocol):
    metered: bool
    """True when the control plane's own metering feeds the export (local); False when Cloud Billing does."""

    def rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run one query of ``queries.py`` (``{table}`` still unfilled) with its named parameters."""
        ...


class LocalBilling:
    """The DuckDB export table under the control plane's state folder; inside a request every query
    shares one connection."""

    metered = True

    def __init__(self, export: BillingExport) -> None:
        self.export = export

    def rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if has_request_context():
            if "billing_conn" not in g:
                g.billing_stack = ExitStack()
                g.billing_conn = g.billing_stack.enter_context(self.export.connect())
                after_this_request(_close_billing)
            return _duckdb_rows(g.billing_conn, sql, params)
        with self.export.connect() as conn:
            return _duckdb_rows(conn, sql, params)


def _close_billing(response: Any) -> Any:
    g.pop("billing_conn", None)
    stack = g.pop("billing_stack", None)
    if stack is not None:
        stack.close()
    return response


def _duckdb_rows(conn: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor = conn.execute(queries.for_duckdb(sql), params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class BigQueryBilling:
    """The Cloud Billing export table, queried as written (BigQuery SQL) through the warehouse seam."""

    metered = False

    def __init__(self, warehouse: Warehouse, table: str) -> None:
        from b2brec.billing_export import check_export_table

        self.warehouse = warehouse
        self.table = check_export_table(table)  # interpolated below: only a strict project.dataset.table

    def sql(self, sql: str) -> str:
        return sql.format(table=f"`{self.table}`")

    def rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.warehouse.query(self.sql(sql), params).to_pylist()
        return result


def billing_source(settings: ControlPlaneSettings, platform: Settings) -> BillingSource:
    """The export the app reads: BigQuery (``B2BREC_CP_BILLING_EXPORT_TABLE``) on GCP, else the local copy."""
    warehouse = platform_warehouse(platform, settings.billing_export_location)
    if warehouse is None:
        return LocalBilling(BillingExport(settings.state_dir(platform) / "billing.duckdb"))
    if not settings.billing_export_table:
        raise ControlPlaneError(
            "B2BREC_CP_BILLING_EXPORT_TABLE is unset: on GCP the billing pages read the Cloud Billing export",
            code="invalid_settings",
            fix="set it to PROJECT.DATASET.gcp_billing_export_v1_XXXXXX_XXXXXX_XXXXXX (Billing > Billing export "
            "shows the dataset; the table appears there after the first export)",
        )
    return BigQueryBilling(warehouse, settings.billing_export_table)
