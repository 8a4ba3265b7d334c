"""Two real serving processes (``b2brec serve``) of one client converge on the version deployed
through either of them within the refresh interval; a rollback likewise; and the deployment
history says who moved the live version, when, from what to what and why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from b2brec.backends.storage import ObjectStore
from b2brec.bundle import write_bundle
from b2brec.live import (
    LiveVersionError,
    deployment_history,
    live_version,
    rollback_live_version,
    set_live_version,
)
from b2brec.projects.local import ADMIN_TOKEN_SECRET, LocalClientProject, create_project
from b2brec.settings import Settings
from b2brec.spec import load_environment
from serving.synthetic import synthetic_bundle
from tests.conftest import REPO_ROOT
from tests.serving.conftest import free_port

pytestmark = pytest.mark.slow

REFRESH_S = 1.0
LOAD_SLACK_S = 3.0
"""A tiny bundle loads in well under a second; the slack covers a busy shared machine."""


@pytest.fixture
def project(settings: Settings) -> LocalClientProject:
    created = create_project(load_environment(settings.environments_dir, "demo-dev"), settings)
    for i, version in enumerate(("20260101-000000", "20260102-000000", "20260103-000000")):
        write_bundle(created.storage("models"), synthetic_bundle(version, n_products=150, n_customers=20, seed=i))
    return created


def _serve(settings: Settings, project: LocalClientProject, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "B2BREC_HOME": str(settings.home),
        "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir),
        "B2BREC_SERVING_LIVE_REFRESH_S": str(REFRESH_S),
        "B2BREC_SERVING_PREDICTION_LOG": "false",
    }
    argv = [sys.executable, "-m", "cli.main", "serve", "--client", project.project_id, "--port", str(port)]
    return subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _version(url: str) -> str | None:
    try:
        return httpx.get(f"{url}/health", timeout=2).json()["data"]["model_version"]
    except (httpx.TransportError, KeyError, ValueError):
        return None


@pytest.fixture
def two_instances(settings: Settings, project: LocalClientProject) -> Iterator[list[str]]:
    ports = [free_port(), free_port()]
    procs = [_serve(settings, project, port) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 300  # two TensorFlow start-ups side by side on 2 shared cores
        while not all(_version(url) for url in urls):
            for proc in procs:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "serving did not become ready"
            time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.communicate(timeout=60)


def _converge(urls: list[str], version: str) -> float:
    """Seconds until every instance serves ``version``."""
    started = time.monotonic()
    while any(_version(url) != version for url in urls):
        assert time.monotonic() - started < REFRESH_S + LOAD_SLACK_S + 10, [_version(u) for u in urls]
        time.sleep(0.05)
    return time.monotonic() - started


def test_two_serving_processes_converge_on_deploy_and_rollback(
    project: LocalClientProject, two_instances: list[str]
) -> None:
    first, second = two_instances
    store = project.storage("models")
    # The project's own admin token, created with it (the admin API is never open: issue 10, B1).
    admin = {"Authorization": f"Bearer {project.secrets().get(ADMIN_TOKEN_SECRET)}"}
    newest = "20260103-000000"
    assert {_version(first), _version(second)} == {newest}  # both started on the newest, recorded as live
    assert live_version(store) == newest

    deployed = httpx.post(
        f"{first}/admin/deploy",
        json={"version": "20260101-000000", "actor": "ana", "reason": "recall dropped"},
        headers=admin,
    )
    assert deployed.status_code == 200, deployed.text
    assert _version(first) == "20260101-000000"  # the instance called swaps at once
    took = _converge([first, second], "20260101-000000")
    assert took <= REFRESH_S + LOAD_SLACK_S, took
    print(f"deploy converged on both instances in {took:.2f} s (refresh {REFRESH_S} s)")

    rolled = httpx.post(f"{second}/admin/rollback", json={"actor": "ben", "reason": "false alarm"}, headers=admin)
    assert rolled.status_code == 200, rolled.text
    took = _converge([first, second], newest)
    assert took <= REFRESH_S + LOAD_SLACK_S, took
    print(f"rollback converged on both instances in {took:.2f} s")

    history = [(d.action, d.previous, d.version, d.actor, d.reason) for d in deployment_history(store)]
    assert history == [
        ("deploy", None, newest, "serving-startup", "first version served"),
        ("deploy", newest, "20260101-000000", "ana", "recall dropped"),
        ("rollback", "20260101-000000", newest, "ben", "false alarm"),
    ]
    versions = httpx.get(f"{first}/admin/versions", headers=admin).json()["data"]
    assert versions["live"] == newest and len(versions["history"]) == 3

    # a version set directly in the bucket (the client app's deployment manager) is followed too
    set_live_version(store, "20260102-000000", actor="client-app:ana", reason="A/B winner")
    _converge([first, second], "20260102-000000")


def test_live_pointer_rules(tmp_path: Path) -> None:
    store = ObjectStore((tmp_path / "models").as_uri())
    with pytest.raises(LiveVersionError, match="no serving bundle"):
        set_live_version(store, "v1", actor="ana")
    for i, version in enumerate(("v1", "v2")):
        write_bundle(store, synthetic_bundle(version, n_products=20, n_customers=5, seed=i))
    assert live_version(store) is None and deployment_history(store) == []
    with pytest.raises(LiveVersionError, match="no previous version"):
        rollback_live_version(store, actor="ana")
    with pytest.raises(LiveVersionError, match="say who deploys"):
        set_live_version(store, "v1", actor=" ")
    set_live_version(store, "v1", actor="ana")
    again = set_live_version(store, "v1", actor="ben")  # already live: nothing new recorded
    assert again.actor == "ana" and len(deployment_history(store)) == 1
    with pytest.raises(LiveVersionError, match="changed to 'v1' meanwhile"):
        set_live_version(store, "v2", actor="ben", expected=None)  # decided on a stale view
    set_live_version(store, "v2", actor="ben", expected="v1")
    back = rollback_live_version(store, actor="cy", reason="oops")
    assert (back.version, back.previous, back.action) == ("v1", "v2", "rollback") and live_version(store) == "v1"


def test_a_live_version_that_fails_to_load_is_skipped_until_the_pointer_moves(tmp_path: Path) -> None:
    from serving.config import ServingSettings
    from serving.live import LiveFollower
    from serving.model.loader import BundleSource
    from serving.model.registry import ModelRegistry

    store = ObjectStore((tmp_path / "models").as_uri())
    for i, version in enumerate(("v1", "v2", "v3")):
        write_bundle(store, synthetic_bundle(version, n_products=40, n_customers=8, seed=i))
    store.write_bytes("v2/serving/candidate_embeddings.npy", b"not an array")  # v2 is broken after the fact
    registry = ModelRegistry(BundleSource(store), ServingSettings())
    registry.deploy("v1")
    follower = LiveFollower(registry, store, refresh_s=0.05)

    set_live_version(store, "v2", actor="ana")
    assert follower.check_once() == "v2"
    assert registry.current.version == "v1"  # kept serving what it had
    loads = []
    registry.build = lambda version, build=registry.build: loads.append(version) or build(version)  # type: ignore[method-assign]
    follower.check_once()
    assert loads == []  # the broken version is not retried on every tick
    set_live_version(store, "v3", actor="ben", reason="fix")
    follower.check_once()
    assert registry.current.version == "v3" and loads == ["v3"]
