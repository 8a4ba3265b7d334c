"""Control plane at fleet scale: billing aggregation, the fleet dashboard, and rollouts.

    .venv/bin/python benchmarks/control_plane.py [--clients 200] [--days 365] [--rollout-clients 500]

1. Billing: a year of billing export (BigQuery standard usage cost schema, nested project,
   labels and credits) for N clients, written straight into the DuckDB export table: per client
   and day six fixed services, four pipeline-stage jobs and 24 hourly serving rows (34 rows per
   client-day: 2.48M rows for 200 clients). Then one month's view per client, timed three ways:
     (a) ours: the BigQuery-dialect query (sqlglot -> DuckDB) on the export file,
     (b) pandas baseline, best case: ``groupby`` on a flat in-memory frame already holding the year,
     (c) pandas end to end: read that month's flat columns from the same file, then ``groupby``;
   and checked equal (per client, to the cent).
2. Fleet dashboard: N clients registered in the app (SQLite), one health sample each, the billing
   export above; median render time of ``GET /dashboard`` over 10 requests, signed in.
3. Rollouts over M simulated clients whose health follows a script (the provisioner records
   what it applies; the probe answers from the script): a good version, a version broken
   everywhere, and one broken only for clients in one region (first met in a later wave). Prints
   waves, applies, rollbacks, clients left untouched and seconds, with soak 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from b2brec.billing_export import CLIENT_ID, CREDITS  # noqa: E402
from b2brec.settings import Settings  # noqa: E402
from b2brec.spec import ClientSpec  # noqa: E402
from control_plane.billing import queries  # noqa: E402
from control_plane.billing.export import DDL, SCHEMA, TABLE  # noqa: E402
from control_plane.billing.pricing import DAILY_SERVICES_EUR  # noqa: E402
from control_plane.health.probe import ClientHealth  # noqa: E402
from control_plane.settings import ControlPlaneSettings  # noqa: E402
from provisioning.base import ApplyResult, ProvisionResult, ProvisionStatus  # noqa: E402

console = Console(width=150)
STAGES = ("etl", "extractor", "vocab", "trainer")
STAGE_HOURS = {"etl": 0.2, "extractor": 0.4, "vocab": 0.1, "trainer": 1.5}


# --- 1. billing export ------------------------------------------------------------------------
def _kv_list(keys: list[np.ndarray], values: list[np.ndarray], n: int) -> pa.ListArray:
    """A list<struct<key, value>> column with len(keys) pairs per row, built without Python loops."""
    width = len(keys)
    key_col = np.empty(n * width, dtype=object)
    value_col = np.empty(n * width, dtype=object)
    for i, (k, v) in enumerate(zip(keys, values, strict=True)):
        key_col[i::width] = k
        value_col[i::width] = v
    items = pa.StructArray.from_arrays(
        [pa.array(key_col, pa.string()), pa.array(value_col, pa.string())], ["key", "value"]
    )
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * width + 1, width, dtype=np.int32)), items)


def export_batch(clients: int, day: date, rng: np.random.Generator) -> pa.Table:
    """One day of the fleet's export rows (34 per client)."""
    services = [s for s, _ in DAILY_SERVICES_EUR] + ["Vertex AI"] * len(STAGES) + ["Cloud Run"] * 24
    skus = [k for _, k in DAILY_SERVICES_EUR] + [f"Custom training: {s}" for s in STAGES] + ["Serving requests"] * 24
    base = np.array(list(DAILY_SERVICES_EUR.values()) + [STAGE_HOURS[s] * 0.36 for s in STAGES] + [0.02] * 24)
    per = len(services)
    n = clients * per
    client_idx = np.repeat(np.arange(clients), per)
    kind = np.tile(np.arange(per), clients)
    start = datetime.combine(day, datetime.min.time(), UTC)
    offsets = np.where(kind >= per - 24, kind - (per - 24), 0).astype("timedelta64[h]")
    starts = np.datetime64(start.replace(tzinfo=None), "us") + offsets
    ends = starts + np.where(kind >= per - 24, np.timedelta64(1, "h"), np.timedelta64(24, "h"))
    cost = base[kind] * rng.lognormal(0.0, 0.15, n)
    client_ids = np.array([f"client-{i:04d}" for i in range(clients)], dtype=object)[client_idx]
    projects = np.array([f"client-c{i:04d}-prod" for i in range(clients)], dtype=object)[client_idx]
    run_ids = np.where(kind < len(DAILY_SERVICES_EUR), "", np.char.add(f"run-{day:%Y%m%d}-", client_idx.astype(str)))
    has_run = (kind >= len(DAILY_SERVICES_EUR)) & (kind < len(DAILY_SERVICES_EUR) + len(STAGES))
    labels = _kv_list(
        [np.full(n, "client_id", object), np.full(n, "run_id", object)], [client_ids, run_ids.astype(object)], n
    )
    # rows without a run drop the run_id pair: rebuild offsets so those rows hold one label only
    keep = np.ones(2 * n, dtype=bool)
    keep[1::2] = has_run
    flat = labels.values.filter(pa.array(keep))
    counts = np.where(has_run, 2, 1)
    labels = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)), flat)
    credits_items = pa.StructArray.from_arrays(
        [
            pa.array([], pa.string()),
            pa.array([], pa.float64()),
            pa.array([], pa.string()),
            pa.array([], pa.string()),
            pa.array([], pa.string()),
        ],
        ["name", "amount", "full_name", "id", "type"],
    )
    credits = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), credits_items)
    empty_kv = pa.ListArray.from_arrays(
        pa.array(np.zeros(n + 1, dtype=np.int32)),
        pa.StructArray.from_arrays([pa.array([], pa.string()), pa.array([], pa.string())], ["key", "value"]),
    )
    svc = np.array(services, dtype=object)[kind]
    sku = np.array(skus, dtype=object)[kind]
    ts = pa.timestamp("us", tz="UTC")
    columns = {
        "billing_account_id": pa.array(np.full(n, "01B2B0-BENCH0-000000", object), pa.string()),
        "service": pa.StructArray.from_arrays(
            [pa.array(svc, pa.string()), pa.array(svc, pa.string())], ["id", "description"]
        ),
        "sku": pa.StructArray.from_arrays(
            [pa.array(sku, pa.string()), pa.array(sku, pa.string())], ["id", "description"]
        ),
        "usage_start_time": pa.array(starts, ts),
        "usage_end_time": pa.array(ends, ts),
        "project": pa.StructArray.from_arrays(
            [
                pa.array(projects, pa.string()),
                pa.array(projects, pa.string()),
                pa.array(projects, pa.string()),
                empty_kv,
            ],
            ["id", "number", "name", "labels"],
        ),
        "labels": labels,
        "system_labels": empty_kv,
        "location": pa.StructArray.from_arrays(
            [pa.array(np.full(n, "europe-west1", object), pa.string())] * 3, ["location", "country", "region"]
        ),
        "export_time": pa.array(np.full(n, np.datetime64(start.replace(tzinfo=None), "us")), ts),
        "cost": pa.array(cost, pa.float64()),
        "currency": pa.array(np.full(n, "EUR", object), pa.string()),
        "currency_conversion_rate": pa.array(np.ones(n), pa.float64()),
        "usage": pa.StructArray.from_arrays(
            [
                pa.array(np.ones(n)),
                pa.array(np.full(n, "hour", object), pa.string()),
                pa.array(np.ones(n)),
                pa.array(np.full(n, "hour", object), pa.string()),
            ],
            ["amount", "unit", "amount_in_pricing_units", "pricing_unit"],
        ),
        "credits": credits,
        "invoice": pa.StructArray.from_arrays([pa.array(np.full(n, f"{day:%Y%m}", object), pa.string())], ["month"]),
        "cost_type": pa.array(np.full(n, "regular", object), pa.string()),
    }
    return pa.Table.from_pydict(columns).cast(SCHEMA)


def build_export(path: Path, clients: int, days: int, end: date) -> int:
    rng = np.random.default_rng(7)
    rows = 0
    with duckdb.connect(str(path)) as conn:
        conn.execute(DDL)
        for back in range(days - 1, -1, -1):
            batch = export_batch(clients, end - timedelta(days=back), rng)
            conn.register("_batch", batch)
            conn.execute(f"INSERT INTO {TABLE} SELECT * FROM _batch")
            conn.unregister("_batch")
            rows += batch.num_rows
    return rows


FLAT = (
    f"SELECT {CLIENT_ID} AS client_id, project.id AS project_id, invoice.month AS month, cost, "
    f"{CREDITS} AS credits FROM {{table}}"
)
"""The flat columns pandas groups (read with the same DuckDB list functions as ours)."""


def bench_billing(path: Path, month: str) -> dict[str, Any]:
    ours_sql = queries.for_duckdb(queries.MONTH_BY_CLIENT)
    flat_sql = queries.for_duckdb(FLAT)
    with duckdb.connect(str(path), read_only=True) as conn:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            ours = conn.execute(ours_sql, {"month": month}).df()
            timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        year = conn.execute(flat_sql).df()
        load_year = time.perf_counter() - started
        pandas_best = []
        for _ in range(5):
            started = time.perf_counter()
            frame = year[year["month"] == month]
            baseline = frame.assign(net=frame["cost"] + frame["credits"]).groupby("client_id")["net"].sum().round(2)
            pandas_best.append(time.perf_counter() - started)
        pandas_e2e = []
        for _ in range(3):
            started = time.perf_counter()
            frame = conn.execute(flat_sql + " WHERE invoice.month = $month", {"month": month}).df()
            frame.assign(net=frame["cost"] + frame["credits"]).groupby("client_id")["net"].sum().round(2)
            pandas_e2e.append(time.perf_counter() - started)
    ours_map = dict(zip(ours["client_id"], ours["cost"], strict=True))
    mismatches = [c for c, v in baseline.items() if abs(ours_map.get(c, -1) - v) > 0.011]
    return {
        "ours": statistics.median(timings),
        "pandas_best": statistics.median(pandas_best),
        "pandas_e2e": statistics.median(pandas_e2e),
        "pandas_load_year": load_year,
        "month_rows": int((year["month"] == month).sum()),
        "clients": len(ours_map),
        "mismatches": len(mismatches),
    }


# --- 2. fleet dashboard -----------------------------------------------------------------------
def bench_dashboard(home: Path, export_path: Path, clients: int) -> dict[str, Any]:
    import shutil

    import yaml

    from control_plane.app import create_app
    from control_plane.auth.services import create_operator
    from control_plane.clients.models import Client
    from control_plane.extensions import db
    from control_plane.health.models import HealthSample

    settings = Settings(home=home, environments_dir=REPO / "environments")
    cp = ControlPlaneSettings(secure_cookies=False, celery_eager=True)
    (cp.state_dir(settings)).mkdir(parents=True, exist_ok=True)
    shutil.copy(export_path, cp.state_dir(settings) / "billing.duckdb")
    app = create_app(cp, settings, enqueue=lambda name, arg: None)
    spec_yaml = yaml.safe_dump({"client_id": "x"})
    with app.app_context():
        create_operator("bench@b2brec.test", "benchmark-password", "viewer", actor="bench")
        for i in range(clients):
            client_id = f"client-{i:04d}"
            db.session.add(
                Client(
                    client_id=client_id,
                    name=f"Client {i:04d}",
                    env="prod",
                    region="europe-west1",
                    project_id=f"client-c{i:04d}-prod",
                    status="active",
                    template_version="1.0.0",
                    budget_amount=900.0,
                    budget_currency="EUR",
                    spec_yaml=spec_yaml,
                    urls={},
                )
            )
            db.session.add(
                HealthSample(
                    client_id=client_id,
                    healthy=i % 17 != 0,
                    checks={"serving": {"ok": i % 17 != 0, "detail": "HTTP 200"}},
                    template_version="1.0.0",
                    p99_ms=12.0,
                    error_rate=0.001,
                    fallback_rate=0.02,
                    predictions=1000.0 + i,
                )
            )
        db.session.commit()
    client = app.test_client()
    response = client.post("/api/login", json={"email": "bench@b2brec.test", "password": "benchmark-password"})
    assert response.status_code == 200
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        page = client.get("/dashboard")
        timings.append(time.perf_counter() - started)
        assert page.status_code == 200
    body = page.get_data(as_text=True)
    return {"median": statistics.median(timings), "max": max(timings), "rows": body.count("data-client=")}


# --- 3. rollouts ------------------------------------------------------------------------------
@dataclass
class RecordingProvisioner:
    """Applies versions to an in-memory fleet and counts each call (the simulated clients)."""

    running: dict[str, str]
    applies: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)

    def create(self, spec: ClientSpec, version: str) -> ProvisionResult:
        self.apply_version(spec, version)
        return ProvisionResult(project_id=spec.project_id, template_version=version, created=True)

    def apply_version(self, spec: ClientSpec, version: str) -> ApplyResult:
        self.applies += 1
        before = self.running.get(spec.client_id)
        self.running[spec.client_id] = version
        self.calls.append((spec.client_id, version))
        return ApplyResult(project_id=spec.project_id, from_version=before, to_version=version)

    def status(self, spec: ClientSpec) -> ProvisionStatus:
        version = self.running.get(spec.client_id)
        return ProvisionStatus(project_id=spec.project_id, exists=version is not None, template_version=version)

    def delete(self, spec: ClientSpec) -> None:
        self.running.pop(spec.client_id, None)


@dataclass
class ScriptedProbe:
    """Health follows a script: ``broken(client_id, version) -> bool``."""

    provisioner: RecordingProvisioner
    broken: Any

    def check(self, client_id: str, project_id: str, urls: dict[str, str]) -> ClientHealth:
        version = self.provisioner.running.get(client_id, "")
        bad = self.broken(client_id, version)
        checks = {"serving": {"ok": not bad, "detail": "HTTP 503" if bad else "HTTP 200"}}
        return ClientHealth(client_id, not bad, checks, version)


def bench_rollouts(home: Path, clients: int) -> list[dict[str, Any]]:
    import yaml

    from control_plane.app import create_app
    from control_plane.clients.models import Client
    from control_plane.extensions import db
    from control_plane.rollouts import services as rollouts
    from control_plane.runtime import runtime
    from control_plane.templates import services as templates
    from control_plane.worker import run_task

    regions = ("europe-west1", "europe-west3", "us-central1", "asia-northeast1", "europe-north1")
    scenarios = {
        "good 2.0.0": ("2.0.0", lambda c, v: False),
        "broken 2.1.0": ("2.1.0", lambda c, v: v == "2.1.0"),
        # broken only on europe-north1 clients onboarded later (index >= 100): first met in wave 3
        "2.2.0 broken late": (
            "2.2.0",
            lambda c, v: v == "2.2.0" and int(c.split("-")[1]) % 5 == 4 and int(c.split("-")[1]) >= 100,
        ),
    }
    results = []
    for name, (version, broken) in scenarios.items():
        scenario_home = home / name.replace(" ", "-")
        settings = Settings(home=scenario_home, environments_dir=REPO / "environments")
        running = {f"sim-{i:04d}": "1.0.0" for i in range(clients)}
        provisioner = RecordingProvisioner(running)
        cp = ControlPlaneSettings(secure_cookies=False, celery_eager=True, soak_seconds=0, wave_size=50)
        apps: list[Any] = []  # each client's apply is a provisioning job: the "worker" runs it at once

        def enqueue(name: str, arg: Any, apps: list[Any] = apps) -> None:
            run_task(apps[0], name, arg)

        app = create_app(
            cp,
            settings,
            provisioner=provisioner,
            probe=ScriptedProbe(provisioner, broken),
            enqueue=enqueue,
        )
        apps.append(app)
        with app.app_context():
            rt = runtime()
            for v in ("1.0.0", "2.0.0", "2.1.0", "2.2.0"):
                templates.add_candidate(v, notes="", images={}, actor="bench")
                templates.release(v, actor="bench")
            # the registry keeps three released: 1.0.0 is retired, which is fine for a rollout *to* 2.x
            for i in range(clients):
                spec = {
                    "client_id": f"sim-{i:04d}",
                    "name": f"Sim {i:04d}",
                    "env": "prod",
                    "region": regions[i % len(regions)],
                    "template_version": "1.0.0",
                    "created": "2026-01-01",
                }
                db.session.add(
                    Client(
                        client_id=spec["client_id"],
                        name=spec["name"],
                        env="prod",
                        region=spec["region"],
                        project_id=f"client-sim-{i:04d}-prod",
                        status="active",
                        template_version="1.0.0",
                        budget_amount=300,
                        budget_currency="EUR",
                        spec_yaml=yaml.safe_dump(spec),
                        urls={},
                    )
                )
            db.session.commit()
            provisioner.applies = 0
            started = time.perf_counter()
            rollout = rollouts.start(rt, version, actor="bench")
            ticks = 0
            while rollout.status in rollouts.ACTIVE:
                rollout = rollouts.tick(rt, rollout.id)
                ticks += 1
            elapsed = time.perf_counter() - started
            targets = rollouts.targets(rollout.id)
            rolled_back = sum(1 for t in targets if t.status == "rolled_back")
            untouched = sum(1 for t in targets if t.status == "pending")
            on_new = sum(1 for v in provisioner.running.values() if v == version)
            results.append(
                {
                    "scenario": name,
                    "status": rollout.status,
                    "waves_run": rollout.current_wave + 1,
                    "waves": rollout.waves,
                    "applies": provisioner.applies,
                    "rolled_back": rolled_back,
                    "untouched": untouched,
                    "on_new": on_new,
                    "ticks": ticks,
                    "seconds": elapsed,
                }
            )
            db.engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rollout-clients", type=int, default=500)
    args = parser.parse_args(argv)
    import os

    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        root = Path(tmp)
        end = datetime.now(UTC).date()
        export_path = root / "billing.duckdb"
        started = time.perf_counter()
        rows = build_export(export_path, args.clients, args.days, end)
        console.print(
            f"billing export: {rows:,} rows for {args.clients} clients x {args.days} days "
            f"({time.perf_counter() - started:.1f}s to write; load average {os.getloadavg()[0]:.1f})"
        )
        month = (end.replace(day=1) - timedelta(days=1)).strftime("%Y%m")  # the last full month
        billing = bench_billing(export_path, month)
        table = Table(title=f"month view {month}: {billing['month_rows']:,} rows, {billing['clients']} clients")
        for col in ("method", "median s", "vs ours"):
            table.add_column(col)
        table.add_row("ours: BigQuery SQL via sqlglot on DuckDB", f"{billing['ours']:.3f}", "1.0x")
        table.add_row(
            "pandas groupby, year already in memory",
            f"{billing['pandas_best']:.3f}",
            f"{billing['pandas_best'] / billing['ours']:.1f}x",
        )
        table.add_row(
            "pandas end to end (read month + groupby)",
            f"{billing['pandas_e2e']:.3f}",
            f"{billing['pandas_e2e'] / billing['ours']:.1f}x",
        )
        console.print(table)
        console.print(
            f"(pandas needed {billing['pandas_load_year']:.1f}s to load the year first; "
            f"per-client mismatches > 1 cent: {billing['mismatches']})"
        )
        dash = bench_dashboard(root / "dash", export_path, args.clients)
        console.print(
            f"fleet dashboard, {args.clients} clients: median {dash['median'] * 1000:.0f} ms, "
            f"max {dash['max'] * 1000:.0f} ms over 10 renders ({dash['rows']} client rows)"
        )
        table = Table(title=f"rollouts over {args.rollout_clients} simulated clients (canary 10%, waves of 50, soak 0)")
        for col in ("scenario", "status", "waves run", "applies", "rolled back", "never touched", "on new", "seconds"):
            table.add_column(col)
        for r in bench_rollouts(root / "rollouts", args.rollout_clients):
            table.add_row(
                r["scenario"],
                r["status"],
                f"{r['waves_run']}/{r['waves']}",
                str(r["applies"]),
                str(r["rolled_back"]),
                str(r["untouched"]),
                str(r["on_new"]),
                f"{r['seconds']:.1f}",
            )
        console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
