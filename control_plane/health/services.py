"""Poll the fleet, keep the history, and summarise it for the dashboard."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from control_plane.clients.models import Client, ClientStatus
from control_plane.extensions import db
from control_plane.health.models import HealthSample
from control_plane.health.probe import ClientHealth
from control_plane.runtime import Runtime
from control_plane.timeutil import utcnow


def check_client(rt: Runtime, client: Client) -> ClientHealth:
    """Probe one client now and keep the sample."""
    result = rt.probe.check(client.client_id, client.project_id, dict(client.urls or {}))
    db.session.add(
        HealthSample(
            client_id=client.client_id,
            healthy=result.healthy,
            template_version=result.template_version or client.template_version,
            checks=result.checks,
            p99_ms=result.p99_ms,
            error_rate=result.error_rate,
            fallback_rate=result.fallback_rate,
            predictions=result.predictions,
        )
    )
    return result


def poll_fleet(rt: Runtime, clients: Iterable[Client] | None = None) -> list[ClientHealth]:
    """One poll of every active client; unhealthy clients raise an alert (once per hour)."""
    from control_plane.alerts import services as alerts

    targets = list(clients) if clients is not None else _active()
    results = [check_client(rt, client) for client in targets]
    db.session.commit()
    hour = utcnow().strftime("%Y%m%d%H")
    for result in results:
        etl, pipeline = result.checks.get("etl", {}), result.checks.get("pipeline", {})
        if etl.get("status") == "failed":
            alerts.raise_alert(
                rt,
                "etl_failed",
                f"{result.client_id}: the ETL load {etl.get('run_id')} failed ({etl.get('detail')})",
                client_id=result.client_id,
                key=str(etl.get("run_id")),
            )
        if pipeline.get("status") == "failed":
            alerts.raise_alert(
                rt,
                "training_failed",
                f"{result.client_id}: pipeline run {pipeline.get('run_id')} failed: {pipeline.get('error')}",
                client_id=result.client_id,
                key=str(pipeline.get("run_id")),
            )
        if not result.healthy:
            alerts.raise_alert(
                rt,
                "unhealthy",
                f"{result.client_id} is unhealthy: {', '.join(result.failures)}",
                client_id=result.client_id,
                key=hour,
            )
    return results


def _active() -> list[Client]:
    return list(db.session.scalars(sa.select(Client).where(Client.status == ClientStatus.ACTIVE.value)))


def latest_by_client() -> dict[str, HealthSample]:
    newest = (
        sa.select(HealthSample.client_id, sa.func.max(HealthSample.id).label("id"))
        .group_by(HealthSample.client_id)
        .subquery()
    )
    rows = db.session.scalars(sa.select(HealthSample).join(newest, HealthSample.id == newest.c.id))
    return {row.client_id: row for row in rows}


def history(client_id: str, limit: int = 50) -> list[HealthSample]:
    return list(
        db.session.scalars(
            sa.select(HealthSample)
            .where(HealthSample.client_id == client_id)
            .order_by(HealthSample.id.desc())
            .limit(limit)
        )
    )


def fleet_summary(runs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Aggregate numbers for the dashboard; ``runs`` comes from billing's metering (pipeline runs)."""
    clients = _active()
    latest = latest_by_client()
    healthy = sum(1 for c in clients if (s := latest.get(c.client_id)) is not None and s.healthy)
    day_ago = utcnow() - timedelta(days=1)
    predictions = db.session.scalar(sa.select(sa.func.max(HealthSample.predictions)).where(HealthSample.at >= day_ago))
    return {
        "active_clients": len(clients),
        "healthy_clients": healthy,
        "unhealthy_clients": len(clients) - healthy,
        "predictions_served": float(predictions or 0.0),
        **(runs or {}),
    }


def ordered_for_dashboard(clients: list[Client]) -> list[tuple[Client, HealthSample | None]]:
    """Unhealthy (and never checked) clients first, then by id."""
    latest = latest_by_client()
    rows = [(c, latest.get(c.client_id)) for c in clients]
    return sorted(rows, key=lambda r: (r[1] is not None and r[1].healthy, r[0].client_id))
