"""Where a client's schedules (the ETL load, scheduled retraining) live: one seam, two sides.

- Embedded default: ``BeatSchedules``, the entries the client app's Celery beat tick reads (a JSON
  file in the local client project; the tick fires each entry when its cron comes due).
- Google Cloud: ``CloudSchedulerJobs``, the Cloud Scheduler jobs the client stack defines
  (``{name}-schedule``); changing a schedule PATCHes the job through the Cloud Scheduler REST API
  (``updateMask=schedule,timeZone``) and pauses or resumes it. The stack ignores later changes of
  those two fields, so the app's choice survives the next ``terraform apply``.

Cron expressions are in ``time_zone`` (the app sends UTC, as it shows next runs in the client's zone).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from b2brec.errors import B2BRecError

SCHEDULE_NAMES = ("etl", "retrain")
"""The schedules a client has; on GCP each is the stack's Cloud Scheduler job ``{name}-schedule``."""
CLOUD_SCHEDULER_API = "https://cloudscheduler.googleapis.com/v1"
UPDATE_MASK = "schedule,timeZone"


class ScheduleError(B2BRecError):
    code = "schedule_error"


@dataclass(frozen=True, kw_only=True)
class Schedule:
    name: str
    cron: str
    time_zone: str = "UTC"
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.name not in SCHEDULE_NAMES:
            raise ScheduleError(f"unknown schedule {self.name!r}; schedules are {', '.join(SCHEDULE_NAMES)}")
        if len(self.cron.split()) != 5:
            raise ScheduleError(f"{self.cron!r} is not a 5-field cron expression; use e.g. '0 2 * * *'")


class ScheduleStore(Protocol):
    fires_in_app: bool
    """True when the app's own beat tick must start the scheduled work (locally); False when the
    platform's scheduler does (GCP: Cloud Scheduler calls the job or the app)."""

    def apply(self, schedule: Schedule) -> None: ...

    def get(self, name: str) -> Schedule | None: ...


class BeatSchedules:
    """The Celery beat entries of a local client project (read by the app's one-minute tick)."""

    fires_in_app = True

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def apply(self, schedule: Schedule) -> None:
        entries = {**self._read(), schedule.name: asdict(schedule)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".schedules-")
        with os.fdopen(fd, "w") as out:
            json.dump(entries, out, indent=2, sort_keys=True)
        os.replace(tmp, self.path)

    def get(self, name: str) -> Schedule | None:
        entry = self._read().get(name)
        return Schedule(**entry) if entry else None


class HttpSession(Protocol):
    def request(self, method: str, url: str, **kwargs: Any) -> Any: ...


def google_session() -> HttpSession:
    """An authorized session with the service's own identity (the client app's service account)."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]


class CloudSchedulerJobs:
    """The client stack's Cloud Scheduler jobs, changed through the REST API (v1)."""

    fires_in_app = False

    def __init__(
        self, project: str, region: str, *, session: HttpSession | None = None, endpoint: str = CLOUD_SCHEDULER_API
    ) -> None:
        self.project, self.region, self.endpoint = project, region, endpoint.rstrip("/")
        self._session = session

    @property
    def session(self) -> HttpSession:
        if self._session is None:
            self._session = google_session()
        return self._session

    def job_name(self, name: str) -> str:
        return f"projects/{self.project}/locations/{self.region}/jobs/{name}-schedule"

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, f"{self.endpoint}/{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            detail = _error_message(response)
            fix = (
                "the client stack grants the app's service account the job-level role that allows this; "
                "apply the client's stack (b2brec deploy)"
                if response.status_code in (403, 404)
                else "retry; if it persists, check Cloud Scheduler in the client's project"
            )
            raise ScheduleError(
                f"Cloud Scheduler answered {response.status_code} for {method} {path}: {detail}", fix=fix
            )
        return response.json() if response.content else {}

    def apply(self, schedule: Schedule) -> None:
        job = self.job_name(schedule.name)
        self._call(
            "PATCH",
            job,
            params={"updateMask": UPDATE_MASK},
            json={"name": job, "schedule": schedule.cron, "timeZone": schedule.time_zone},
        )
        self._call("POST", f"{job}:{'resume' if schedule.enabled else 'pause'}", json={})

    def get(self, name: str) -> Schedule | None:
        found = self._call("GET", self.job_name(name))
        return Schedule(
            name=name,
            cron=found["schedule"],
            time_zone=found.get("timeZone", "UTC"),
            enabled=found.get("state", "ENABLED") != "PAUSED",
        )


def _error_message(response: Any) -> str:
    try:
        return str(response.json()["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return str(getattr(response, "text", ""))[:300]
