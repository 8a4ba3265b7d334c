"""Canary rollouts over a local fleet: a good version goes everywhere wave by wave; a broken
one halts after the canary, is rolled back there, and no other client is touched."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import Flask

from b2brec.errors import B2BRecError
from b2brec.progress import OnEvent
from b2brec.projects.local import open_project
from b2brec.settings import Settings
from b2brec.spec import ClientSpec
from control_plane.clients import services as clients
from control_plane.rollouts.services import plan_waves, tick_all
from control_plane.runtime import runtime
from provisioning.base import ApplyResult
from provisioning.local import LocalProvisioner
from provisioning.templates import registry_for
from tests.control_plane.conftest import build_app, make_login
from tests.control_plane.fleet import create_fleet, fleet_specs, stand_in_serving

DIGEST = "sha256:" + "0f" * 32


def test_plan_waves_canary_is_ten_percent_at_least_one() -> None:
    ids = [f"c{i}" for i in range(25)]
    plan = plan_waves(ids, 0.1, 10)
    # ceil(25 * 0.1) = 3 in the canary, then 10 and 12 -> 10, 10, 2
    assert [len(w) for w in plan.waves] == [3, 10, 10, 2]
    assert [len(w) for w in plan_waves(ids[:4], 0.1, 10).waves] == [1, 3]
    assert sum(plan.waves, []) == ids


def _fleet_app(settings: Settings, tmp_path: Path, base_url: str, count: int, **kwargs: Any) -> Flask:
    app = build_app(settings, tmp_path, overrides={"soak_seconds": 0.5, "wave_size": 3}, **kwargs)
    specs = fleet_specs(settings, count, version="1.0.0")
    create_fleet(settings, specs)
    with app.app_context():
        for spec in specs:
            clients.register_existing(spec, urls={"serving": f"{base_url}/c/{spec.project_id}"})
    admin = make_login(app)("admin")
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        r = admin.post("/api/templates", json={"version": version, "images": {"serving": DIGEST}, "release": True})
        assert r.status_code == 201, r.get_json()
    return app


def _drive(app: Flask, rollout_id: int, timeout: float = 30.0) -> dict:
    """Act as the worker: tick until the rollout ends."""
    op = make_login(app)("operator")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            tick_all(runtime())
        data = op.get(f"/api/rollouts/{rollout_id}").get_json()["data"]
        if data["rollout"]["status"] in ("completed", "halted"):
            return data
        time.sleep(0.1)
    raise AssertionError(f"rollout {rollout_id} did not finish: {data}")


def _versions(settings: Settings, count: int) -> dict[str, str]:
    return {f"fleet-{i:03d}": open_project(f"fleet-{i:03d}", settings).spec.template_version for i in range(count)}


def test_good_version_reaches_every_client_in_waves(settings: Settings, tmp_path: Path) -> None:
    with stand_in_serving(settings, broken=set()) as base:
        app = _fleet_app(settings, tmp_path, base, 7)
        op = make_login(app)("operator")
        r = op.post("/api/rollouts", json={"version": "1.1.0"})
        assert r.status_code == 201, r.get_json()
        data = _drive(app, r.get_json()["data"]["rollout"]["id"])
    assert data["rollout"]["status"] == "completed"
    # 7 clients: canary ceil(0.7) = 1, then waves of 3 -> 1, 3, 3
    assert data["rollout"]["waves"] == 3
    assert {t["status"] for t in data["targets"]} == {"healthy"}
    assert set(_versions(settings, 7).values()) == {"1.1.0"}  # the projects really run it


def test_broken_version_halts_after_canary_and_rolls_back(settings: Settings, tmp_path: Path) -> None:
    count = 12
    with stand_in_serving(settings, broken={"1.2.0"}) as base:
        app = _fleet_app(settings, tmp_path, base, count)
        op = make_login(app)("operator")
        r = op.post("/api/rollouts", json={"version": "1.2.0"})
        data = _drive(app, r.get_json()["data"]["rollout"]["id"])
    rollout, targets = data["rollout"], data["targets"]
    assert rollout["status"] == "halted" and rollout["current_wave"] == 0
    assert "health gate failed" in rollout["halt_reason"]
    canary = [t for t in targets if t["wave"] == 0]
    assert len(canary) == 2  # ceil(12 * 0.1)
    assert {t["status"] for t in canary} == {"rolled_back"}
    assert {t["status"] for t in targets if t["wave"] > 0} == {"pending"}
    # every client, canary included, runs the old version again, in its project and in the registry
    assert set(_versions(settings, count).values()) == {"1.0.0"}
    registry = {c["client_id"]: c["template_version"] for c in op.get("/api/clients").get_json()["data"]["clients"]}
    assert set(registry.values()) == {"1.0.0"}
    alerts = op.get("/api/alerts").get_json()["data"]["alerts"]
    assert any(a["kind"] == "rollout_halted" for a in alerts)
    mail = (tmp_path / "mail.mbox").read_text()
    assert "rollout_halted" in mail
    actions = [e["action"] for e in op.get("/api/audit").get_json()["data"]["entries"]]
    assert "rollout.halt" in actions and actions.count("client.version") == 4  # 2 up, 2 back


def test_pinned_clients_are_left_out(settings: Settings, tmp_path: Path) -> None:
    with stand_in_serving(settings, broken=set()) as base:
        app = _fleet_app(settings, tmp_path, base, 3)
        op = make_login(app)("operator")
        assert op.post("/api/clients/fleet-001/pin", json={"pinned": True}).status_code == 200
        r = op.post("/api/rollouts", json={"version": "1.1.0"})
        data = _drive(app, r.get_json()["data"]["rollout"]["id"])
    assert {t["client_id"] for t in data["targets"]} == {"fleet-000", "fleet-002"}
    assert _versions(settings, 3) == {"fleet-000": "1.1.0", "fleet-001": "1.0.0", "fleet-002": "1.1.0"}


def test_one_click_rollback_to_a_kept_version(settings: Settings, tmp_path: Path) -> None:
    with stand_in_serving(settings, broken=set()) as base:
        app = _fleet_app(settings, tmp_path, base, 1)
        op = make_login(app)("operator")
        r = op.post("/api/clients/fleet-000/rollback", json={"version": "1.2.0"})
        assert r.status_code == 202, r.get_json()
        job = op.get(f"/api/jobs/{r.get_json()['data']['job']['id']}").get_json()["data"]["job"]
        assert job["status"] == "succeeded"
        assert _versions(settings, 1) == {"fleet-000": "1.2.0"}
        refused = op.post("/api/clients/fleet-000/rollback", json={"version": "0.9.0"})
        assert refused.status_code == 404


class _FailsToApply(LocalProvisioner):
    """The real local provisioner, except that applying ``version`` fails (as a terraform apply can)."""

    def __init__(self, settings: Settings, version: str) -> None:
        super().__init__(settings, registry=registry_for(settings), services=[])
        self.failing = version

    def apply_version(self, spec: ClientSpec, version: str, *, on_event: OnEvent | None = None) -> ApplyResult:
        if version == self.failing:
            raise B2BRecError("terraform apply failed: quota exceeded", code="provisioning_failed")
        return super().apply_version(spec, version, on_event=on_event)


def test_each_client_of_a_wave_is_applied_by_its_own_job_and_a_failed_job_halts(
    settings: Settings, tmp_path: Path
) -> None:
    with stand_in_serving(settings, broken=set()) as base:
        app = _fleet_app(settings, tmp_path, base, 4, provisioner=_FailsToApply(settings, "1.2.0"))
        op = make_login(app)("operator")
        good = _drive(app, op.post("/api/rollouts", json={"version": "1.1.0"}).get_json()["data"]["rollout"]["id"])
        bad = _drive(app, op.post("/api/rollouts", json={"version": "1.2.0"}).get_json()["data"]["rollout"]["id"])
    assert good["rollout"]["status"] == "completed"
    for target in good["targets"]:  # one apply_version job row per client, with its log
        job = op.get(f"/api/jobs/{target['job_id']}").get_json()["data"]["job"]
        assert (job["client_id"], job["kind"], job["version"], job["status"]) == (
            target["client_id"],
            "apply_version",
            "1.1.0",
            "succeeded",
        )
        assert f"{target['client_id']} runs template 1.1.0" in job["log"]
    assert len({t["job_id"] for t in good["targets"]}) == 4

    assert bad["rollout"]["status"] == "halted" and bad["rollout"]["halt_reason"] == "fleet-000: apply failed"
    (canary,) = [t for t in bad["targets"] if t["wave"] == 0]
    job = op.get(f"/api/jobs/{canary['job_id']}").get_json()["data"]["job"]
    assert job["status"] == "failed" and "quota exceeded" in job["error"]
    assert canary["status"] == "rolled_back"
    assert canary["detail"].startswith(f"apply job #{canary['job_id']} failed: apply: terraform apply failed")
    assert all(t["status"] == "pending" and t["job_id"] is None for t in bad["targets"] if t["wave"] > 0)
    assert set(_versions(settings, 4).values()) == {"1.1.0"}
    page = op.get(f"/rollouts/{bad['rollout']['id']}").get_data(as_text=True)
    assert f'href="/jobs/{canary["job_id"]}"' in page
