"""Metering: turn what each local client really ran into billing-export rows.

* every finished job of the client's pipeline runs (``trainer.runs.metered_jobs``: run, stage,
  start, end, machine type, accelerators, replicas) → one Vertex AI row priced per second of its
  machine type and accelerators, labelled with its ``run_id`` and stage;
* every other job in the project's ``jobs/`` folder (ETL jobs, jobs outside a run: job.json with
  the machine spec, times from the files the job runner writes) → a row the same way;
* each day the client existed → one row per fixed daily service of the price sheet.

Metering is idempotent: a job or a client-day already in the export is not written again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from control_plane.billing.export import SCHEMA, TABLE, BillingExport, UsageRow, insert_table
from control_plane.billing.pricing import PriceSheet

BILLING_ACCOUNT = "01B2B0-LOCAL0-000000"


@dataclass(frozen=True)
class MeteredClient:
    client_id: str
    project_id: str
    region: str
    since: date
    jobs_dir: Path | None
    labels: dict[str, str]
    run_jobs: tuple[dict[str, Any], ...] = ()
    """``trainer.runs.metered_jobs`` of the client (the jobs of its pipeline runs)."""


def _ts(value: Any) -> datetime | None:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def read_job(job_dir: Path) -> dict[str, Any] | None:
    """Start, end and machine of one finished job (None while it still runs)."""
    spec_file, exit_file = job_dir / "job.json", job_dir / "exit_code"
    if not spec_file.exists():
        return None
    spec = json.loads(spec_file.read_text())
    record_file = job_dir / "record.json"
    record = json.loads(record_file.read_text()) if record_file.exists() else {}
    started = _ts(record.get("started_at") or spec.get("started_at")) or datetime.fromtimestamp(
        spec_file.stat().st_mtime, UTC
    )
    ended = _ts(record.get("ended_at") or spec.get("ended_at"))
    if ended is None:
        if not exit_file.exists():
            return None
        ended = datetime.fromtimestamp(exit_file.stat().st_mtime, UTC)
    machine = spec.get("machine") or {}
    return {
        "job_id": job_dir.name,
        "name": spec.get("name", job_dir.name),
        "run_id": (spec.get("env") or {}).get("B2BREC_RUN_ID") or record.get("run_id") or "",
        "started": started,
        "ended": max(ended, started),
        "machine_type": record.get("machine_type") or machine.get("machine_type"),
        "accelerator_type": record.get("accelerator_type") or machine.get("accelerator_type"),
        "accelerator_count": int(record.get("accelerator_count") or machine.get("accelerator_count") or 0),
    }


def from_run_record(job: dict[str, Any]) -> dict[str, Any] | None:
    """A ``metered_jobs`` row in the shape :func:`job_rows` prices."""
    started, ended = _ts(job.get("started_at")), _ts(job.get("ended_at"))
    if started is None or ended is None:
        return None
    return {
        "job_id": job["job_id"],
        "name": job.get("stage") or "job",
        "run_id": job.get("run_id") or "",
        "started": started,
        "ended": max(ended, started),
        "machine_type": job.get("machine_type"),
        "accelerator_type": job.get("accelerator_type"),
        "accelerator_count": int(job.get("accelerator_count") or 0),
        "replica_count": int(job.get("replica_count") or 1),
    }


def job_rows(client: MeteredClient, prices: PriceSheet, job: dict[str, Any]) -> list[UsageRow]:
    hours = (job["ended"] - job["started"]).total_seconds() / 3600.0 * job.get("replica_count", 1)
    cost = hours * prices.machine_hour(job["machine_type"])
    cost += hours * job["accelerator_count"] * prices.accelerator_hour(job["accelerator_type"])
    labels = {**client.labels, "job_id": job["job_id"], "stage": job["name"]}
    if job["run_id"]:
        labels["run_id"] = job["run_id"]
    return [
        UsageRow(
            billing_account_id=BILLING_ACCOUNT,
            service="Vertex AI",
            sku=f"Custom training: {job['machine_type'] or 'local'}",
            start=job["started"],
            end=job["ended"],
            project_id=client.project_id,
            labels=labels,
            cost=cost,
            currency=prices.currency,
            usage_amount=hours * 3600.0,
            usage_unit="seconds",
            region=client.region,
        )
    ]


def daily_rows(client: MeteredClient, prices: PriceSheet, day: date) -> list[UsageRow]:
    start = datetime.combine(day, time(0), UTC)
    return [
        UsageRow(
            billing_account_id=BILLING_ACCOUNT,
            service=service,
            sku=sku,
            start=start,
            end=start + timedelta(days=1),
            project_id=client.project_id,
            labels=dict(client.labels),
            cost=eur,
            currency=prices.currency,
            usage_amount=24.0,
            usage_unit="hour",
            region=client.region,
        )
        for (service, sku), eur in prices.daily.items()
    ]


def meter(export: BillingExport, clients: list[MeteredClient], prices: PriceSheet, *, today: date) -> dict[str, int]:
    """Write what is not in the export yet; returns how many rows of each kind were added."""
    added = {"jobs": 0, "daily": 0}
    now = datetime.now(UTC)
    with export.connect() as conn:
        seen_jobs = {
            row[0]
            for row in conn.execute(
                f"SELECT l.value FROM {TABLE}, UNNEST(labels) AS t(l) WHERE l.key = 'job_id'"
            ).fetchall()
        }
        seen_days = {
            (row[0], row[1])
            for row in conn.execute(
                f"SELECT DISTINCT project.id, CAST(usage_start_time AS DATE) FROM {TABLE} "
                "WHERE service.description <> 'Vertex AI'"
            ).fetchall()
        }
        rows: list[UsageRow] = []
        for client in clients:
            jobs = [j for j in (from_run_record(r) for r in client.run_jobs) if j is not None]
            in_runs = {j["job_id"] for j in jobs}
            if client.jobs_dir is not None and client.jobs_dir.is_dir():
                folder_jobs = (read_job(d) for d in sorted(client.jobs_dir.iterdir()) if d.name not in in_runs)
                jobs += [j for j in folder_jobs if j is not None]
            for job in jobs:
                if job["job_id"] in seen_jobs:
                    continue
                seen_jobs.add(job["job_id"])
                rows += job_rows(client, prices, job)
                added["jobs"] += 1
            day = client.since
            while day <= today:
                if (client.project_id, day) not in seen_days:
                    rows += daily_rows(client, prices, day)
                    added["daily"] += 1
                day += timedelta(days=1)
        if rows:
            insert_table(conn, pa.Table.from_pylist([r.as_record(now) for r in rows], schema=SCHEMA))
    return added
