"""Fleet, billing, rollouts and roles in a real browser: the billing page's totals equal an
independent aggregate of the export table; a broken version halts after the canary and is
rolled back, every other client keeps the old version; a viewer cannot change anything."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from b2brec.projects.local import open_project
from b2brec.settings import Settings
from control_plane.clients import services as clients
from control_plane.health.services import poll_fleet
from control_plane.runtime import runtime
from control_plane.templates import services as templates
from tests.control_plane.browser.conftest import LiveServer, screenshot, sign_in, start_live
from tests.control_plane.fleet import create_fleet, fleet_specs, stand_in_serving

pytestmark = pytest.mark.slow
FLEET = 10


@pytest.fixture
def live(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    with stand_in_serving(settings, broken={"1.2.0"}) as base:
        for server in start_live(settings, tmp_path, soak_seconds=1.0, wave_size=4):
            specs = fleet_specs(settings, FLEET, version="1.0.0")
            create_fleet(settings, specs)
            with server.app.app_context():
                rt = runtime()
                for spec in specs:
                    clients.register_existing(spec, urls={"serving": f"{base}/c/{spec.project_id}"})
                for version in ("1.0.0", "1.1.0", "1.2.0"):
                    templates.add_candidate(version, notes=f"release {version}", images={})
                    templates.release(version)
                poll_fleet(rt)
            yield server


def _versions(settings: Settings) -> dict[str, str]:
    return {f"fleet-{i:03d}": open_project(f"fleet-{i:03d}", settings).spec.template_version for i in range(FLEET)}


def test_billing_totals_equal_an_independent_aggregate(browser: Any, live: LiveServer) -> None:
    page = sign_in(browser, live, "operator")
    page.goto(f"{live.url}/billing/")
    page.click("#meter")
    page.wait_for_selector("text=metered")
    shown_total = float(page.locator("#month-total").inner_text())
    shown_rows = {
        row.get_attribute("data-client"): float(row.locator("td.cost").inner_text())
        for row in page.locator("#per-client tr[data-client]").all()
    }
    month = datetime.now(UTC).strftime("%Y%m")
    with live.app.app_context():
        path = runtime().billing_path
    with duckdb.connect(str(path), read_only=True) as conn:
        total = conn.execute(
            "SELECT round(sum(cost), 2) FROM billing_export WHERE invoice.month = ?", [month]
        ).fetchone()[0]
        per_client = dict(
            conn.execute(
                "SELECT l.value, round(sum(cost), 2) FROM billing_export, unnest(labels) AS t(l) "
                "WHERE l.key = 'client_id' AND invoice.month = ? GROUP BY 1",
                [month],
            ).fetchall()
        )
    assert shown_total == pytest.approx(float(total), abs=0.005)
    assert shown_rows == pytest.approx({k: float(v) for k, v in per_client.items()}, abs=0.005)
    assert len(shown_rows) == FLEET
    screenshot(page, "billing")


def test_broken_version_halts_after_canary_and_rolls_back(browser: Any, live: LiveServer) -> None:
    page = sign_in(browser, live, "operator")
    page.goto(f"{live.url}/dashboard")
    screenshot(page, "fleet")
    page.goto(f"{live.url}/rollouts/")
    page.select_option("#version", "1.2.0")
    page.fill("#soak_seconds", "2")
    page.click("#start-rollout")
    page.wait_for_url(re.compile(r".*/rollouts/\d+$"))
    deadline = time.monotonic() + 60
    while page.locator("#rollout-status").inner_text() not in ("halted", "completed"):
        assert time.monotonic() < deadline, "the rollout did not finish"
        page.wait_for_timeout(500)
        page.reload()
    assert page.locator("#rollout-status").inner_text() == "halted"
    assert "health gate failed" in page.locator("#halt-reason").inner_text()
    rows = page.locator("#targets tr[data-client]")
    statuses = {r.get_attribute("data-client"): r.get_attribute("data-status") for r in rows.all()}
    canary = [c for c, s in statuses.items() if s == "rolled_back"]
    assert len(canary) == 1  # ceil(10 * 10%)
    assert all(s == "pending" for c, s in statuses.items() if c not in canary)
    screenshot(page, "rollout-halted")
    assert page.locator("#targets a.job").count() == 1  # only the canary's wave got an apply job
    page.locator(f'#targets tr[data-client="{canary[0]}"] a.job').click()  # its own job, with its log
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    assert page.locator("h1").inner_text().endswith(f"apply_version {canary[0]}")
    assert page.locator("#job-status").inner_text() == "succeeded"
    assert "runs template 1.2.0" in page.locator("#job-log").inner_text()
    assert set(_versions(live.settings).values()) == {"1.0.0"}  # every client on the old version
    page.goto(f"{live.url}/clients")
    assert {v.strip() for v in page.locator("#clients td.version").all_inner_texts()} == {"1.0.0"}
    page.goto(f"{live.url}/audit/")
    actions = page.locator("#audit td.action").all_inner_texts()
    assert "rollout.start" in actions and "rollout.halt" in actions and actions.count("client.version") == 2


def test_a_good_version_completes_through_the_ui(browser: Any, live: LiveServer) -> None:
    page = sign_in(browser, live, "operator")
    page.goto(f"{live.url}/rollouts/")
    page.select_option("#version", "1.1.0")
    page.fill("#soak_seconds", "0.5")
    page.click("#start-rollout")
    deadline = time.monotonic() + 90
    while page.locator("#rollout-status").inner_text() not in ("halted", "completed"):
        assert time.monotonic() < deadline, "the rollout did not finish"
        page.wait_for_timeout(500)
        page.reload()
    assert page.locator("#rollout-status").inner_text() == "completed"
    assert set(_versions(live.settings).values()) == {"1.1.0"}


def test_viewer_cannot_change_anything(browser: Any, live: LiveServer) -> None:
    page = sign_in(browser, live, "viewer")
    page.goto(f"{live.url}/rollouts/")
    assert page.locator("#start-rollout").count() == 0  # no form for a viewer
    page.goto(f"{live.url}/clients/fleet-000")
    assert page.locator("text=Pin (exclude from rollouts)").count() == 0
    token = page.context.request.get(f"{live.url}/api/csrf").json()["data"]["csrf_token"]
    attempts = {
        "/rollouts/": {"version": "1.1.0"},
        "/clients/fleet-000/pin": {"pinned": "1"},
        "/clients/fleet-000/decommission": {"confirm": "fleet-000"},
        "/templates/": {"version": "9.9.9"},
        "/onboarding/": {},
        "/billing/meter": {},
    }
    for path, form in attempts.items():
        response = page.context.request.post(f"{live.url}{path}", form={**form, "csrf_token": token})
        assert response.status == 403, path
    page.goto(f"{live.url}/audit/")
    actors = set(page.locator("#audit tr td:nth-child(2)").all_inner_texts())
    assert "viewer@b2brec.test" not in actors
    assert set(_versions(live.settings).values()) == {"1.0.0"}
