"""The day-to-day workflow in a real browser (Debian's chromium) against real services.

Sign in → dashboard → connect a PostgreSQL source and test it → run the ETL and watch it finish →
train a new model and watch the stages progress live → compare it with the previous run → deploy
it → create an API key → call /recommend with that key and get the new version's answer → roll back.

Real parts only: the app (its own process), its Celery worker (SQLite broker), PostgreSQL (the
client's source database and the app database), the local client project (DuckDB warehouse,
subprocess pipeline jobs, MLflow), and the serving API, which follows the live version.
The previous run is trained before the browser opens, from the same source, with the same code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from b2brec.context import client_context, context_for_spec
from b2brec.datagen import GeneratorConfig, generate
from b2brec.etl import run_etl
from b2brec.projects.local import LocalClientProject, create_project
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, load_environment
from client_app.config import AppConfig
from client_app.demo import ensure_user
from client_app.runner import AppProcesses, start
from tests.conftest import POSTGRES_ADMIN_URL, _fresh_database
from tests.trainer.conftest import free_port
from trainer.pipeline import RunOptions, context_for, run_pipeline

pytestmark = [pytest.mark.slow, pytest.mark.services]

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"


def _shot(page: Any, name: str) -> None:
    """Save a README figure only when B2BREC_SCREENSHOTS is set (a test run must not rewrite tracked files)."""
    target = os.environ.get("B2BREC_SCREENSHOTS")
    if target:
        folder = Path(target) if target not in {"1", "docs"} else IMAGES
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / name), full_page=True)


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ALLOWED = {"demo-wholesale": ["127.0.0.1/32"]}
"""The operator lets this test client reach the machine's own PostgreSQL (loopback is refused otherwise)."""
EMAIL = "ops@example.com"


@pytest.fixture
def source_db() -> Iterator[str]:
    """The client's ERP: a fresh PostgreSQL database with synthetic wholesale sales."""
    for url in _fresh_database(
        POSTGRES_ADMIN_URL, "PostgreSQL", 'CREATE DATABASE "{name}"', 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    ):
        generate(GeneratorConfig(transactions=6000, seed=11, end_date=date(2026, 11, 1), days=120), url)
        yield url


@pytest.fixture
def app_db() -> Iterator[str]:
    yield from _fresh_database(
        POSTGRES_ADMIN_URL, "PostgreSQL", 'CREATE DATABASE "{name}"', 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    )


def _pg_spec(base: ClientSpec, url: str) -> ClientSpec:
    """The demo spec with its ERP read from the PostgreSQL source (what the app's form will set up)."""
    parsed = sa.make_url(url)
    data = base.model_dump(mode="json")
    data["sources"] = {
        "erp": {
            "kind": "postgresql",
            "host": "127.0.0.1",
            "port": parsed.port or 5432,
            "database": parsed.database,
            "username": parsed.username,
        }
    }
    return ClientSpec.model_validate(data)


@pytest.fixture
def world(tmp_path: Path, source_db: str) -> Iterator[dict[str, Any]]:
    """A local client project whose first model (trained yesterday, so to speak) is live."""
    settings = Settings(home=tmp_path / "home", environments_dir=REPO / "environments", source_hosts_allowed=ALLOWED)
    spec = load_environment(settings.environments_dir, "demo-dev")
    project = create_project(spec, settings, environment="demo-dev")
    ports = {"client_app": free_port(), "serving": free_port(), "mlflow": free_port()}
    project_file = project.root / "project.json"
    payload = json.loads(project_file.read_text())
    project_file.write_text(json.dumps({**payload, "ports": ports}))
    project = LocalClientProject(
        root=project.root, spec=spec, home=settings.home, ports=ports, created_at=project.created_at
    )
    run_etl(context_for_spec(_pg_spec(spec, source_db), settings))
    first = run_pipeline(
        context_for(client_context("demo-dev", settings)), options=RunOptions.from_spec(spec, epochs=1)
    )
    env = {
        **os.environ,
        "B2BREC_HOME": str(settings.home),
        "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir),
        "B2BREC_SOURCE_HOSTS_ALLOWED": json.dumps(ALLOWED),
        "B2BREC_SERVING_CREDENTIALS_REFRESH_S": "1",
        "B2BREC_SERVING_LIVE_REFRESH_S": "1",
    }
    log = open(project.logs_dir / "serving.log", "ab")  # noqa: SIM115 (closed below)
    serving = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--client", project.project_id, "--version", first.run_id],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{ports['serving']}"
    try:
        _wait_for(lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200, 180, "serving /health")
        yield {"settings": settings, "project": project, "first": first.run_id, "serving_url": url, "env": env}
    finally:
        serving.terminate()
        serving.wait(timeout=30)
        log.close()
        from trainer import mlflow_server

        mlflow_server.stop(project)


@pytest.fixture
def app_url(world: dict[str, Any], app_db: str) -> Iterator[tuple[str, str, AppProcesses]]:
    project: LocalClientProject = world["project"]
    env = {
        **world["env"],
        "B2BREC_APP_CLIENT": project.project_id,
        "B2BREC_APP_DATABASE_URL": app_db,
        "B2BREC_APP_SECURE_COOKIES": "0",
        "B2BREC_APP_POLL_MS": "500",
        "B2BREC_APP_STALL_AFTER_S": "15",
    }
    config = AppConfig(client=project.project_id, database_url=app_db, secure_cookies=False)
    password = ensure_user(config, world["settings"], EMAIL)
    processes = start(env, host="127.0.0.1", port=project.ports["client_app"], logs=project.logs_dir, beat=False)
    try:
        yield processes.url, password, processes
    finally:
        processes.stop()


def _wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _recommend(serving_url: str, key: str) -> dict[str, Any]:
    response = httpx.post(
        f"{serving_url}/recommend", json={"customer_id": "C000001", "k": 5}, headers={"X-API-Key": key}, timeout=10
    )
    return {"status": response.status_code, **(response.json() if response.status_code == 200 else {})}


def test_day_to_day_workflow_in_the_browser(
    world: dict[str, Any], app_url: tuple[str, str, AppProcesses], source_db: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, password, _ = app_url
    source = sa.make_url(source_db)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)

        # sign in → dashboard
        page.goto(f"{url}/login")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Dashboard")
        expect(page.locator("#dashboard-live")).to_have_text(world["first"])

        # connect the PostgreSQL source and test it
        page.click("text=Connections")
        form = page.locator("#new-connection")
        form.locator("input[name=name]").fill("erp_pg")
        form.locator("select[name=kind]").select_option("postgresql")
        form.locator("input[name=host]").fill("127.0.0.1")
        form.locator("input[name=port]").fill(str(source.port or 5432))
        form.locator("input[name=database]").fill(source.database or "")
        form.locator("input[name=username]").fill(source.username or "postgres")
        form.locator("input[name=password]").fill("not-needed-with-trust-auth")
        form.locator("button[type=submit]").click()
        expect(page.locator("h1")).to_contain_text("Connection erp_pg")
        assert "not-needed-with-trust-auth" not in page.content()
        page.click("#mapping-form button[type=submit]")  # the proposal read from the schema
        expect(page.locator(".flash")).to_contain_text("mapping saved")
        page.click("#test-form button")
        expect(page.locator("#test-results [data-final]")).to_have_text("All checks passed.")
        expect(page.locator("#check-results tr.ok")).to_have_count(4)  # connection + 3 tables
        _shot(page, "client-app-connection.png")

        # run the ETL and watch it finish (no reload: the card polls)
        page.click("text=ETL")
        page.click("#run-etl button")
        status = page.locator(".job [data-status]").first
        expect(status).to_have_text("succeeded", timeout=180_000)
        expect(page.locator(".job").first).to_contain_text("rows read")

        # train and watch the stages progress live
        page.click("nav >> text=Training")
        page.fill("#train-form input[name=epochs]", "1")
        page.click("#train-form button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Training run #")
        run_id = page.locator("h1 .muted").inner_text().strip()
        seen: set[tuple[str, str]] = set()
        deadline = time.monotonic() + 900
        screenshot_taken = False
        while time.monotonic() < deadline:
            for row in page.locator("#stages tbody tr").all():
                cells = row.locator("td").all_inner_texts()
                seen.add((cells[0], cells[1]))
            if not screenshot_taken and ("train", "running") in seen:
                _shot(page, "client-app-training.png")
                screenshot_taken = True
            state = page.locator("#run-status").inner_text()
            if state in ("succeeded", "failed", "cancelled"):
                break
            page.wait_for_timeout(500)
        assert page.locator("#run-status").inner_text() == "succeeded", page.locator("#live").inner_text()
        assert {("extract", "running"), ("train", "running"), ("register", "succeeded")} <= seen, seen

        # compare with the previous run
        page.click("nav >> text=Experiments")
        expect(page.locator("#experiment-runs tbody tr")).to_have_count(2)
        page.click("#compare-form button[type=submit]")
        table = page.locator("#comparison")
        expect(table).to_contain_text(f"run {run_id}")
        expect(table).to_contain_text(f"run {world['first']}")
        expect(table).to_contain_text("baseline")
        _shot(page, "client-app-compare.png")

        # deploy it
        page.click("nav >> text=Deployments")
        page.click(f"button[data-version='{run_id}']")
        expect(page.locator("#live-version")).to_have_text(run_id)

        # create an API key; it is shown once
        page.fill("#new-key-form input[name=name]", "web shop")
        page.click("#new-key-form button")
        key = page.locator("#new-key").inner_text().strip()
        assert key.startswith("b2b_")

        # /recommend with that key answers with the new version (keys and live version re-read within seconds)
        serving_url = world["serving_url"]
        _wait_for(
            lambda: _recommend(serving_url, key).get("data", {}).get("model_version") == run_id,
            60,
            "the new version on /recommend",
        )
        assert _recommend(serving_url, "b2b_wrong")["status"] in (401, 403)

        # roll back
        page.goto(f"{url}/deployments/")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#rollback")
        expect(page.locator("#live-version")).to_have_text(world["first"])
        _wait_for(
            lambda: _recommend(serving_url, key).get("data", {}).get("model_version") == world["first"],
            60,
            "the previous version on /recommend after the rollback",
        )
        expect(page.locator("#deploy-history tbody tr").first).to_contain_text("rollback")

        page.goto(f"{url}/dashboard/")
        _shot(page, "client-app-dashboard.png")
        browser.close()
