"""The schedules seam: beat entries in a local project; on GCP, what is sent to the Cloud Scheduler
REST API (checked on a real local HTTP server that records each request and answers like the API)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from b2brec.backends.schedules import BeatSchedules, CloudSchedulerJobs, Schedule, ScheduleError
from b2brec.errors import B2BRecError

JOB = "projects/client-acme-dev/locations/europe-west1/jobs/retrain-schedule"


@dataclass
class Recorder:
    sent: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse: int | None = None


@pytest.fixture
def api() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(jobs={JOB: {"name": JOB, "schedule": "0 4 * * 1", "timeZone": "UTC", "state": "PAUSED"}})

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            recorder.sent.append(
                {"method": self.command, "path": url.path, "params": parse_qs(url.query), "body": body}
            )
            name = url.path.removeprefix("/v1/")
            job_name, _, verb = name.partition(":")
            if recorder.refuse:
                return self._json(recorder.refuse, {"error": {"code": recorder.refuse, "message": "denied by IAM"}})
            job = recorder.jobs.get(job_name)
            if job is None:
                return self._json(404, {"error": {"code": 404, "message": f"Job not found: {job_name}"}})
            if self.command == "PATCH":
                for key in parse_qs(url.query)["updateMask"][0].split(","):
                    job[key] = body[key]
            elif verb in ("pause", "resume"):
                job["state"] = "PAUSED" if verb == "pause" else "ENABLED"
            self._json(200, job)

        do_GET = do_PATCH = do_POST = _answer  # noqa: N815

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", recorder
    server.shutdown()
    server.server_close()


def _jobs(endpoint: str) -> CloudSchedulerJobs:
    return CloudSchedulerJobs("client-acme-dev", "europe-west1", session=requests.Session(), endpoint=endpoint)


def test_gcp_patches_the_stacks_job_with_schedule_and_time_zone_then_resumes_it(api: tuple[str, Recorder]) -> None:
    endpoint, recorder = api
    jobs = _jobs(endpoint)
    jobs.apply(Schedule(name="retrain", cron="0 3 * * 1", time_zone="UTC"))
    patch, resume = recorder.sent
    assert patch == {
        "method": "PATCH",
        "path": f"/v1/{JOB}",
        "params": {"updateMask": ["schedule,timeZone"]},
        "body": {"name": JOB, "schedule": "0 3 * * 1", "timeZone": "UTC"},
    }
    assert (resume["method"], resume["path"]) == ("POST", f"/v1/{JOB}:resume")
    assert jobs.get("retrain") == Schedule(name="retrain", cron="0 3 * * 1", time_zone="UTC", enabled=True)

    jobs.apply(Schedule(name="retrain", cron="0 3 * * 1", enabled=False))  # off: the job is paused
    assert recorder.sent[-1]["path"] == f"/v1/{JOB}:pause"
    assert jobs.get("retrain") is not None and jobs.get("retrain").enabled is False  # type: ignore[union-attr]


def test_a_refusal_says_what_and_how_to_fix(api: tuple[str, Recorder]) -> None:
    endpoint, recorder = api
    recorder.refuse = 403
    with pytest.raises(ScheduleError) as caught:
        _jobs(endpoint).apply(Schedule(name="etl", cron="0 2 * * *"))
    assert "403" in caught.value.message and "denied by IAM" in caught.value.message
    assert caught.value.fix and "stack" in caught.value.fix
    recorder.refuse = None
    with pytest.raises(ScheduleError, match="404"):  # the stack's job is missing
        _jobs(endpoint).apply(Schedule(name="etl", cron="0 2 * * *"))


def test_local_beat_entries_round_trip(tmp_path: Path) -> None:
    store = BeatSchedules(tmp_path / "db" / "schedules.json")
    assert store.get("etl") is None and store.fires_in_app
    store.apply(Schedule(name="etl", cron="0 2 * * *"))
    store.apply(Schedule(name="retrain", cron="0 4 * * 1", enabled=False))
    assert store.get("etl") == Schedule(name="etl", cron="0 2 * * *")
    assert store.get("retrain") == Schedule(name="retrain", cron="0 4 * * 1", enabled=False)
    assert not CloudSchedulerJobs("p", "r", session=requests.Session()).fires_in_app


@pytest.mark.parametrize(("name", "cron"), [("backup", "0 2 * * *"), ("etl", "every day"), ("etl", "0 2 * *")])
def test_bad_schedules_are_refused(name: str, cron: str) -> None:
    with pytest.raises(B2BRecError):
        Schedule(name=name, cron=cron)
