"""Billing views: month per client, per service, per day, per pipeline run; month-to-date vs
budget and forecast; anomalies; monthly statements with a margin."""

from __future__ import annotations

import calendar
import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from b2brec.context import context_for_spec
from b2brec.projects.local import list_projects
from control_plane.billing import queries
from control_plane.billing.export import BillingExport
from control_plane.billing.metering import MeteredClient, meter
from control_plane.billing.pricing import PriceSheet
from control_plane.clients.models import Client
from control_plane.errors import ControlPlaneError
from control_plane.runtime import Runtime
from trainer.runs import metered_jobs


def export(rt: Runtime) -> BillingExport:
    return BillingExport(rt.billing_path)


def check_month(month: str) -> str:
    if len(month) != 6 or not month.isdigit() or not 1 <= int(month[4:]) <= 12:
        raise ControlPlaneError("the month is not YYYYMM", code="invalid_input", fix="use e.g. 202611")
    return month


def current_month(today: date | None = None) -> str:
    return (today or datetime.now(UTC).date()).strftime("%Y%m")


def _query(rt: Runtime, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Run one billing query on the app's export: the local copy, or the Cloud Billing export on GCP."""
    return rt.billing.rows(sql, params)


def meter_fleet(rt: Runtime, clients: list[Client], *, today: date | None = None) -> dict[str, int]:
    """Meter every registered client that has a local project (its jobs and daily services) into
    the export; on GCP Cloud Billing writes the real export and nothing is metered."""
    if not rt.billing.metered:
        return {"jobs": 0, "daily": 0}
    projects = {p.project_id: p for p in list_projects(rt.platform)}
    metered = []
    for client in (c for c in clients if c.project_id in projects):
        project = projects[client.project_id]
        since = datetime.fromisoformat(project.created_at).date()
        run_jobs = tuple(metered_jobs(context_for_spec(project.spec, rt.platform)))
        metered.append(
            MeteredClient(
                client_id=client.client_id,
                project_id=client.project_id,
                region=client.region,
                since=since,
                jobs_dir=project.root / "jobs",
                labels={"client_id": client.client_id, "environment": client.env},
                run_jobs=run_jobs,
            )
        )
    return meter(export(rt), metered, PriceSheet(), today=today or datetime.now(UTC).date())


@dataclass(frozen=True)
class BudgetView:
    client_id: str
    mtd: float
    budget: float
    forecast: float
    currency: str

    @property
    def share(self) -> float:
        return self.mtd / self.budget if self.budget else 0.0


def month_by_client(rt: Runtime, month: str) -> list[dict[str, Any]]:
    return _query(rt, queries.MONTH_BY_CLIENT, month=check_month(month))


def month_total(rt: Runtime, month: str) -> float:
    rows = _query(rt, queries.MONTH_TOTAL, month=check_month(month))
    return float(rows[0]["cost"] or 0.0) if rows else 0.0


def by_service(rt: Runtime, month: str, client_id: str = "") -> list[dict[str, Any]]:
    return _query(rt, queries.MONTH_BY_SERVICE, month=check_month(month), client=client_id)


def daily(rt: Runtime, month: str, client_id: str = "") -> list[dict[str, Any]]:
    return _query(rt, queries.DAILY, month=check_month(month), client=client_id)


def per_run(rt: Runtime, client_id: str) -> list[dict[str, Any]]:
    return _query(rt, queries.PER_RUN, client=client_id)


def run_counts(rt: Runtime, now: datetime) -> dict[str, int]:
    """Distinct pipeline runs (by ``run_id`` label) started in the last day, week and 30 days."""
    rows = _query(
        rt,
        queries.RUN_COUNTS,
        day=(now - timedelta(days=1)).isoformat(),
        week=(now - timedelta(days=7)).isoformat(),
        month=(now - timedelta(days=30)).isoformat(),
    )
    row = rows[0] if rows else {}
    return {f"runs_{k}": int(row.get(v) or 0) for k, v in (("today", "day"), ("week", "week"), ("month", "month"))}


def budgets(
    rt: Runtime, clients: list[Client], *, today: date | None = None, month_rows: list[dict[str, Any]] | None = None
) -> dict[str, BudgetView]:
    """Month-to-date cost vs budget and a linear forecast to month end (``month_rows``: this
    month's :func:`month_by_client`, when the caller already has it)."""
    today = today or datetime.now(UTC).date()
    month = current_month(today)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    rows = month_rows if month_rows is not None else month_by_client(rt, month)
    costs = {row["client_id"]: float(row["cost"] or 0.0) for row in rows}
    views = {}
    for client in clients:
        mtd = costs.get(client.client_id, 0.0)
        views[client.client_id] = BudgetView(
            client.client_id, mtd, client.budget_amount, mtd / today.day * days_in_month, client.budget_currency
        )
    return views


def anomalies(rt: Runtime, *, factor: float, window: int = 14, today: date | None = None) -> list[dict[str, Any]]:
    """Days whose cost exceeds ``factor`` x the client's trailing ``window``-day mean."""
    today = today or datetime.now(UTC).date()
    since = datetime.combine(today - timedelta(days=window + 31), datetime.min.time(), UTC)
    rows = _query(rt, queries.DAILY_BY_CLIENT, since=since.isoformat())
    series: dict[str, dict[date, float]] = {}
    for row in rows:
        series.setdefault(row["client_id"], {})[row["day"]] = float(row["cost"] or 0.0)
    found = []
    for client_id, days in series.items():
        for day in sorted(days):
            trailing = [days.get(day - timedelta(days=i), 0.0) for i in range(1, window + 1)]
            history = [v for v in trailing if v > 0]
            if len(history) < 3:
                continue
            baseline = sum(history) / len(history)
            if days[day] > factor * baseline and days[day] - baseline > 1.0:
                found.append({"client_id": client_id, "day": day, "cost": days[day], "baseline": baseline})
    return found


def raise_cost_alerts(rt: Runtime, clients: list[Client]) -> int:
    """Budget thresholds (50/90/100 %) and anomalies become alerts (each once)."""
    from control_plane.alerts import services as alerts

    raised = 0
    month = current_month()
    for view in budgets(rt, clients).values():
        for threshold in (0.5, 0.9, 1.0):
            if view.budget and view.share >= threshold:
                alert = alerts.raise_alert(
                    rt,
                    "budget",
                    f"{view.client_id} spent {view.mtd:.2f} {view.currency}, "
                    f"{view.share:.0%} of its {view.budget:.0f} budget (forecast {view.forecast:.2f})",
                    client_id=view.client_id,
                    key=f"{month}-{threshold}",
                )
                raised += alert is not None
    for item in anomalies(rt, factor=rt.settings.anomaly_factor):
        alert = alerts.raise_alert(
            rt,
            "cost_anomaly",
            f"{item['client_id']} cost {item['cost']:.2f} on {item['day']}, "
            f"{item['cost'] / item['baseline']:.1f}x its trailing mean {item['baseline']:.2f}",
            client_id=item["client_id"],
            key=str(item["day"]),
        )
        raised += alert is not None
    return raised


@dataclass(frozen=True)
class Statement:
    client_id: str
    month: str
    lines: list[dict[str, Any]]
    margin: float
    currency: str

    @property
    def cost(self) -> float:
        return round(sum(line["cost"] + line["credits"] for line in self.lines), 2)

    @property
    def total(self) -> float:
        return round(self.cost * (1 + self.margin), 2)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["client_id", "month", "service", "sku", "usage", "unit", "cost", "credits", "currency"])
        for line in self.lines:
            writer.writerow(
                [
                    self.client_id,
                    self.month,
                    line["service"],
                    line["sku"],
                    f"{line['usage_amount']:.3f}",
                    line["usage_unit"],
                    f"{line['cost']:.2f}",
                    f"{line['credits']:.2f}",
                    self.currency,
                ]
            )
        writer.writerow([self.client_id, self.month, "subtotal", "", "", "", f"{self.cost:.2f}", "", self.currency])
        writer.writerow(
            [
                self.client_id,
                self.month,
                f"margin {self.margin:.0%}",
                "",
                "",
                "",
                f"{self.total - self.cost:.2f}",
                "",
                self.currency,
            ]
        )
        writer.writerow([self.client_id, self.month, "total", "", "", "", f"{self.total:.2f}", "", self.currency])
        return out.getvalue()


def statement(rt: Runtime, client_id: str, month: str) -> Statement:
    lines = _query(rt, queries.STATEMENT, month=check_month(month), client=client_id)
    currency = lines[0]["currency"] if lines else "EUR"
    for line in lines:
        line["cost"], line["credits"] = float(line["cost"] or 0), float(line["credits"] or 0)
        line["usage_amount"] = float(line["usage_amount"] or 0)
    return Statement(client_id, month, lines, rt.settings.margin, currency)


def bar_chart_svg(points: list[tuple[str, float]], *, width: int = 640, height: int = 160) -> str:
    """A small inline SVG bar chart (no external script or CDN)."""
    if not points:
        return ""
    top = max(v for _, v in points) or 1.0
    bar = width / len(points)
    parts = [f'<svg viewBox="0 0 {width} {height + 20}" width="100%" role="img" aria-label="daily cost">']
    for i, (label, value) in enumerate(points):
        h = value / top * height
        parts.append(
            f'<rect x="{i * bar + 1:.1f}" y="{height - h:.1f}" width="{max(bar - 2, 1):.1f}" height="{h:.1f}" '
            f'fill="#3b6ea5"><title>{label}: {value:.2f}</title></rect>'
        )
    parts.append(f'<text x="0" y="{height + 15}" font-size="11">{points[0][0]}</text>')
    parts.append(f'<text x="{width}" y="{height + 15}" font-size="11" text-anchor="end">{points[-1][0]}</text>')
    parts.append("</svg>")
    return "".join(parts)
