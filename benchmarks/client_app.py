"""Client app page timings with a year of history: dashboard, run-history (training) and monitoring pages.

    .venv/bin/python benchmarks/client_app.py [--requests 50] [--predictions-per-day 2000]

Builds a local client project (the demo spec, tiny sales data), then a year of history:
  * one ETL run a day (365 app jobs),
  * two training runs a week (104 app jobs, each with its pipeline record and metrics in the data bucket),
  * ``--predictions-per-day`` logged recommendations a day for 365 days in the prediction log,
and times ``GET /dashboard/``, ``GET /training/`` and ``GET /monitoring/`` through the Flask app in this process (server
time: routing, database, warehouse and bucket reads, template), after one warm-up request each.
Prints p50/p99 per page and the load average (the machine is shared). The serving API is not
running, so the dashboard's live-version read is the bucket pointer only (as in production).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# This file shares its name with the client_app package: take its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from b2brec.projects.local import create_project  # noqa: E402
from b2brec.settings import Settings  # noqa: E402
from b2brec.spec import load_environment  # noqa: E402
from trainer.run_records import JobRecord, RunRecord, RunStatus, StageRecord, StageStatus  # noqa: E402
from trainer.synthetic import WholesaleConfig, generate, load_into_warehouse  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def seed_history(app: object, project: object, predictions_per_day: int) -> None:
    from client_app.extensions import db
    from client_app.models import Job

    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=365)
    with app.app_context():  # type: ignore[attr-defined]
        for day in range(365):
            at = start + timedelta(days=day, hours=2)
            db.session.add(
                Job(
                    kind="etl",
                    status="succeeded",
                    requested_by="schedule",
                    created_at=at,
                    started_at=at,
                    finished_at=at + timedelta(minutes=3),
                    message="1,234 rows read",
                )
            )
        for week in range(52):
            for offset in (1, 4):
                at = start + timedelta(weeks=week, days=offset, hours=9)
                run_id = f"{at:%Y%m%d-%H%M%S}-{week:02x}{offset:02x}"
                db.session.add(
                    Job(
                        kind="training",
                        status="succeeded",
                        requested_by="ana@example.com",
                        created_at=at,
                        run_id=run_id,
                        estimated_cost=0.05,
                        metered_cost=0.0312,
                        message="all stages succeeded",
                        options={"epochs": 8, "window_days": 90},
                    )
                )
                _write_record(project, run_id, at)
        db.session.commit()
    warehouse = project.warehouse()  # type: ignore[attr-defined]
    from b2brec.prediction_log import CREATE_TABLE

    warehouse.execute(CREATE_TABLE)
    with warehouse.connect() as conn:
        conn.execute(
            f"""INSERT INTO predictions.recommendation_history
            SELECT 'r' || i, 'q' || i, 'v1', 'recommend', 'C' || (i % 500), 10, ['P1', 'P2'], [0.9, 0.8],
                   i % 20 = 0, NULL, '{{}}',
                   TIMESTAMPTZ '{start:%Y-%m-%d} 00:00:00+00' + INTERVAL (i * 86400 // {predictions_per_day}) SECOND,
                   2.0 + (i % 97) * 0.1
            FROM range({365 * predictions_per_day}) t(i)"""
        )


def _write_record(project: object, run_id: str, at: datetime) -> None:
    stamp = at.isoformat()
    stages = []
    for name in ("extract", "vocab", "train", "register"):
        job = JobRecord(
            name=f"{name}-{run_id}-a1",
            job_id=f"job-{name}-{run_id}",
            state="succeeded",
            submitted_at=stamp,
            started_at=stamp,
            ended_at=(at + timedelta(minutes=2)).isoformat(),
        )
        outputs = {
            "metrics": {f"all/recall@{k}": 0.1 + k / 400 for k in (5, 10, 50, 100)},
            "baselines": {"most_popular": {f"all/recall@{k}": 0.05 + k / 500 for k in (5, 10, 50, 100)}},
        }
        stages.append(
            StageRecord(
                name=name, status=StageStatus.SUCCEEDED, attempt=1, job=job, outputs=outputs if name == "train" else {}
            )
        )
    record = RunRecord(
        run_id=run_id,
        client="bench",
        status=RunStatus.SUCCEEDED,
        created_at=stamp,
        updated_at=stamp,
        options={"epochs": 8, "window_days": 90},
        stages=stages,
    )
    project.storage("data").write_text(f"runs/{run_id}/state.json", json.dumps(record.to_dict()))  # type: ignore[attr-defined]


def time_page(client: object, path: str, n: int) -> list[float]:
    client.get(path)  # type: ignore[attr-defined]  # warm-up (templates compiled, caches filled)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--predictions-per-day", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from client_app import create_app
    from client_app.auth.services import create_user
    from client_app.config import AppConfig

    home = Path(tempfile.mkdtemp(prefix="b2brec-bench-app-"))
    settings = Settings(home=home, environments_dir=REPO / "environments")
    spec = load_environment(settings.environments_dir, "demo-dev")
    project = create_project(spec, settings, environment="demo-dev")
    load_into_warehouse(project.warehouse(), generate(WholesaleConfig(customers=500, products=300, days=365, seed=1)))
    app = create_app(AppConfig(client=project.project_id, secure_cookies=False), settings)
    with app.app_context():
        create_user("bench@example.com", "Bench", "admin", "bench-password-1")
    seed_history(app, project, args.predictions_per_day)
    client = app.test_client()
    import re

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"email": "bench@example.com", "password": "bench-password-1", "csrf_token": token})
    print(f"history: 365 ETL runs, 104 training runs, {365 * args.predictions_per_day:,} predictions")
    print(f"{'page':<14}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}")
    for path in ("/dashboard/", "/training/", "/monitoring/"):
        times = sorted(time_page(client, path, args.requests))
        p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
        print(f"{path:<14}{statistics.median(times):>10.1f}{p99:>10.1f}{len(times):>10}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
