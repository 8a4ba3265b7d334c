"""Probe one client's health: serving ``/health`` and ``/metrics``, the client app, MLflow,
ETL freshness and pipeline success. Every probe is a real request or a real read; a
:class:`HealthProbe` is swappable so the rollout benchmark can script a fleet of 500."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from b2brec.context import context_for_spec
from b2brec.errors import B2BRecError
from b2brec.etl.history import list_runs as etl_runs
from b2brec.projects.local import open_project
from b2brec.settings import Settings
from trainer.runs import list_runs


@dataclass(frozen=True)
class ClientHealth:
    client_id: str
    healthy: bool
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    template_version: str | None = None
    p99_ms: float | None = None
    error_rate: float | None = None
    fallback_rate: float | None = None
    predictions: float | None = None

    @property
    def failures(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.get("ok")]

    @property
    def gate_ok(self) -> bool:
        """What a rollout's health gate looks at: the services, not ETL freshness (a version
        applied minutes ago cannot make last night's load stale)."""
        service_checks = {k: v for k, v in self.checks.items() if k not in GATE_IGNORES}
        return bool(service_checks) and all(check.get("ok") for check in service_checks.values())


class HealthProbe(Protocol):
    def check(self, client_id: str, project_id: str, urls: dict[str, str]) -> ClientHealth: ...


GATE_IGNORES = frozenset({"etl", "pipeline"})
_METRIC = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN|\+Inf)$")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text: sum each metric over its labels (enough for rates and counts)."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        match = _METRIC.match(line.strip())
        if match and match.group(3) not in {"NaN", "+Inf"}:
            totals[match.group(1)] = totals.get(match.group(1), 0.0) + float(match.group(3))
    return totals


def _histogram_p99(text: str, name: str) -> float | None:
    """p99 in ms from a Prometheus histogram's cumulative ``le`` buckets (seconds)."""
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = re.search(r'le="([^"]+)"', line)
            if le and le.group(1) != "+Inf":
                buckets[float(le.group(1))] = buckets.get(float(le.group(1)), 0.0) + float(line.rsplit(" ", 1)[1])
    total = parse_metrics(text).get(f"{name}_count")
    if not buckets or not total:
        return None
    for upper in sorted(buckets):
        if buckets[upper] >= 0.99 * total:
            return upper * 1000.0
    return None


class HttpHealthProbe:
    """The real probe: HTTP to each service URL the client project records, plus warehouse reads."""

    def __init__(self, platform: Settings, *, timeout: float = 2.0, stale_etl_hours: float = 48.0) -> None:
        self.platform = platform
        self.timeout = timeout
        self.stale = timedelta(hours=stale_etl_hours)

    def _get(self, client: httpx.Client, url: str) -> tuple[bool, str, str]:
        try:
            response = client.get(url)
        except httpx.HTTPError as exc:
            return False, f"unreachable ({type(exc).__name__})", ""
        return response.status_code < 400, f"HTTP {response.status_code}", response.text

    def check(self, client_id: str, project_id: str, urls: dict[str, str]) -> ClientHealth:
        checks: dict[str, dict[str, Any]] = {}
        version: str | None = None
        p99 = error_rate = fallback_rate = predictions = None
        with httpx.Client(timeout=self.timeout) as http:
            if "serving" in urls:
                ok, detail, body = self._get(http, f"{urls['serving']}/health")
                checks["serving"] = {"ok": ok, "detail": detail}
                if ok:
                    version = _version_of(body) or version
                ok, detail, text = self._get(http, f"{urls['serving']}/metrics")
                if ok:
                    requests, errors, fallbacks = _serving_counts(text)
                    predictions = requests
                    if requests:
                        error_rate = errors / requests
                        fallback_rate = fallbacks / requests
                    p99 = _histogram_p99(text, "b2brec_serving_request_seconds")
                checks["metrics"] = {"ok": ok, "detail": detail}
            for name in ("client_app", "mlflow"):
                if name in urls:
                    ok, detail, _ = self._get(http, urls[name] + ("/health" if name == "mlflow" else "/"))
                    checks[name] = {"ok": ok, "detail": detail}
        checks.update(self._etl(project_id))
        checks.update(self._pipeline(project_id))
        healthy = all(check["ok"] for check in checks.values()) if checks else False
        return ClientHealth(client_id, healthy, checks, version, p99, error_rate, fallback_rate, predictions)

    def _etl(self, project_id: str) -> dict[str, dict[str, Any]]:
        try:
            project = open_project(project_id, self.platform)
        except B2BRecError:
            return {}  # no local project (a client on GCP): ETL freshness is not probed from here yet
        if not project.warehouse_path.exists():
            return {"etl": {"ok": False, "detail": "no warehouse yet"}}
        try:
            runs = etl_runs(project.warehouse(read_only=True), limit=1)
        except Exception:  # noqa: BLE001 - busy or empty warehouse: unknown freshness, not a crash
            return {"etl": {"ok": False, "detail": "ETL history unreadable"}}
        if not runs:
            return {"etl": {"ok": False, "detail": "no ETL run yet"}}
        last = runs[0]
        finished = last.get("finished_at")
        if isinstance(finished, datetime):
            finished = finished if finished.tzinfo else finished.replace(tzinfo=UTC)
            fresh = datetime.now(UTC) - finished < self.stale
        else:
            fresh = False
        ok = fresh and last.get("status") != "failed"
        detail = f"last ETL {last.get('status')} at {finished}"
        return {"etl": {"ok": ok, "detail": detail, "status": last.get("status"), "run_id": last.get("run_id")}}

    def _pipeline(self, project_id: str) -> dict[str, dict[str, Any]]:
        """Success rate of the client's last ten pipeline runs; the newest failure is named."""
        try:
            project = open_project(project_id, self.platform)
            runs = list_runs(context_for_spec(project.spec, self.platform))[-10:]
        except Exception:  # noqa: BLE001 - no project or no run store yet: nothing to report
            return {}
        finished = [r for r in runs if r.status.value in ("succeeded", "failed")]
        if not finished:
            return {}
        failed = [r for r in finished if r.status.value == "failed"]
        rate = 1 - len(failed) / len(finished)
        last = finished[-1]
        return {
            "pipeline": {
                "ok": last.status.value == "succeeded",
                "detail": f"{rate:.0%} of the last {len(finished)} runs succeeded; last {last.status.value}",
                "success_rate": rate,
                "status": last.status.value,
                "run_id": last.run_id,
                "error": (last.error or "")[:200],
            }
        }


def _version_of(body: str) -> str | None:
    match = re.search(r'"template_version"\s*:\s*"([^"]+)"', body)
    return match.group(1) if match else None


def _serving_counts(text: str) -> tuple[float, float, float]:
    """(requests, failed requests, fallback answers) from serving's counters (serving/metrics.py)."""
    requests = errors = fallbacks = 0.0
    for line in text.splitlines():
        match = _METRIC.match(line.strip())
        if not match or match.group(3) in {"NaN", "+Inf"}:
            continue
        name, labels, value = match.group(1), match.group(2) or "", float(match.group(3))
        if name == "b2brec_serving_requests_total":
            requests += value
            if 'outcome="server_error"' in labels:
                errors += value
        elif name == "b2brec_serving_recommendations_total" and 'source="model"' not in labels:
            fallbacks += value
    return requests, errors, fallbacks
