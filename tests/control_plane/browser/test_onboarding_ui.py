"""The onboarding wizard in a real browser against a real PostgreSQL source: the client project
exists afterwards and its first ETL load ran. Hostile input on the forms is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from b2brec.projects.local import open_project
from b2brec.settings import Settings
from tests.control_plane.browser.conftest import LiveServer, screenshot, sign_in, start_live
from tests.control_plane.conftest import allowing_loopback
from tests.etl.sourcedb import create_erp

pytestmark = pytest.mark.slow


@pytest.fixture
def live(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    yield from start_live(allowing_loopback(settings, "wizard-wholesale"), tmp_path)


@pytest.fixture
def strict_live(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    """No operator allow-list: private and loopback hosts are refused like on GCP."""
    yield from start_live(settings, tmp_path)


def _company_and_region(page: Any, live: LiveServer, name: str) -> None:
    page.goto(f"{live.url}/onboarding/")
    page.click("#start")
    page.fill("#name", name)
    page.select_option("#env", "dev")
    page.click("text=Next")
    page.fill("#budget", "250")
    page.click("text=Next")


@pytest.mark.services
def test_onboard_through_the_wizard(browser: Any, live: LiveServer, postgres_url: str) -> None:
    create_erp(postgres_url, customers=25, products=15, sales=300)
    url = sa.make_url(postgres_url)
    page = sign_in(browser, live, "operator")
    _company_and_region(page, live, "Wizard Wholesale")
    page.select_option("#kind", "postgresql")
    page.fill("#host", url.host or "127.0.0.1")
    page.fill("#port", str(url.port or 5432))
    page.fill("#database", url.database or "")
    page.fill("#username", url.username or "postgres")
    page.fill("#password", "wizard-secret-pw")
    page.click("text=Save and test")
    page.click("#run-test")
    # every check passed: the wizard moved on to the mapping, proposed from the schema
    page.wait_for_url("**/mapping")
    checks = page.locator("#checks tr").all_inner_texts()
    assert len(checks) == 5 and all("ok" in row for row in checks[1:]), checks
    assert page.locator("#transactions-table").input_value() == "sales"
    preview = page.locator("table.preview[data-table=transactions] tr")
    assert preview.count() == 6  # header + 5 real rows
    screenshot(page, "onboarding-mapping")
    page.click("#save-mapping")
    page.wait_for_url("**/review")
    assert "client_id: wizard-wholesale" in page.locator("#spec").inner_text()
    assert "wizard-secret-pw" not in page.content()
    page.click("#provision")
    page.wait_for_url("**/jobs/*")
    from playwright.sync_api import expect

    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=120_000)  # filled live by poll.js
    assert "first ETL load done: " in page.locator("#job-log").inner_text()
    screenshot(page, "onboarding-job")
    page.click("text=Open wizard-wholesale")
    assert page.locator("#client-status").inner_text() == "active"
    assert page.locator("#last-etl").inner_text().startswith("success at ")
    project = open_project("wizard-wholesale", live.settings)
    with duckdb.connect(str(project.warehouse_path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM raw_data.transactions").fetchone()[0] == 300
    page.goto(f"{live.url}/audit/")
    actions = page.locator("#audit td.action").all_inner_texts()
    assert "client.onboard" in actions and "job.create" in actions


def test_hostile_input_on_the_wizard_forms(browser: Any, strict_live: LiveServer) -> None:
    live = strict_live
    corpus = pytest.importorskip("tests.security.corpus")
    page = sign_in(browser, live, "operator")
    page.goto(f"{live.url}/onboarding/")
    page.click("#start")
    for name in ("<script>alert(1)</script>", "{{7*7}}", "Robert'); DROP TABLE clients;--"):
        page.fill("#name", name)
        page.click("text=Next")
        assert page.locator(".flash.error").count() == 1, name
        assert "/company" in page.url
    page.fill("#name", "Hostile Host Co")
    page.click("text=Next")
    page.click("text=Next")
    for host in corpus.HOSTILE_HOSTS[:12] + corpus.SECRET_LIKE:
        page.fill("#host", host)
        page.fill("#database", "erp")
        page.fill("#username", "reader")
        page.fill("#password", "pw")
        page.click("text=Save and test")
        error = page.locator(".flash.error")
        assert error.count() == 1, host
        assert "—" in error.inner_text()  # message and its fix
        if host in corpus.SECRET_LIKE:
            assert host not in page.content()
    page.goto(f"{live.url}/clients")
    assert "Hostile Host Co" not in page.content()
