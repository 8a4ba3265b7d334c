"""``b2brec rollout …`` and ``b2brec control-plane …`` as a user runs them (subprocesses): the b2brec
CLI execs ``control_plane.manage``, errors come back as one line with the fix and exit code 2, and
a rollout driven with ``--wait`` ends with the exit code CI needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from b2brec.settings import Settings
from control_plane.app import create_app
from control_plane.clients import services as clients
from control_plane.settings import ControlPlaneSettings
from provisioning.local import LocalProvisioner
from provisioning.templates import registry_for
from tests.control_plane.fleet import create_fleet, fleet_specs

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "B2BREC_HOME": str(home), "PYTHONPATH": str(REPO), "B2BREC_CP_SECURE_COOKIES": "0"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_errors_are_one_line_with_the_fix(settings: Settings) -> None:
    result = _run(settings.home, "rollout", "status")
    assert result.returncode == 2
    assert "error (not_found): no rollout yet" in result.stderr and "fix:" in result.stderr
    result = _run(settings.home, "rollout", "start", "9.9.9")
    assert result.returncode == 2 and "template_not_found" in result.stderr
    assert "Canary rollouts of a template version" in _run(settings.home, "rollout", "--help").stdout


def test_rollout_start_wait_exits_1_when_the_gate_halts_it(settings: Settings) -> None:
    specs = fleet_specs(settings, 2, version="1.0.0")
    create_fleet(settings, specs)
    registry = registry_for(settings)
    for version in ("1.0.0", "1.1.0"):
        registry.add(version)
        registry.release(version)
    app = create_app(
        ControlPlaneSettings(secure_cookies=False),
        settings,
        provisioner=LocalProvisioner(settings, registry=registry, services=[]),
        enqueue=lambda name, arg: None,
    )
    with app.app_context():
        for spec in specs:
            # no service URL: nothing the gate can see healthy (ETL is not gated), so it fails closed
            clients.register_existing(spec, urls={})
    # with no service to probe the gate has nothing healthy to see: the canary halts (exit 1)
    try:
        result = _run(settings.home, "rollout", "start", "1.1.0", "--soak", "0", "--wait")
    finally:  # the CLI's provisioner started the canary's services: stop them with the test
        for spec in specs:
            LocalProvisioner(settings, registry=registry).stop_services(spec)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "halted" in result.stdout and "rolled_back" in result.stdout
