"""A live control plane (real HTTP server in a thread, work run by an in-process worker
thread) and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from b2brec.settings import Settings
from control_plane.rollouts.services import tick_all
from control_plane.runtime import runtime
from control_plane.worker import run_task
from tests.conftest import _unavailable
from tests.control_plane.conftest import OPERATORS, PASSWORD, build_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[3]


@dataclass
class LiveServer:
    app: Flask
    url: str
    settings: Settings
    tmp_path: Path


def screenshot(page: Any, name: str) -> None:
    """Save a README figure when B2BREC_SCREENSHOTS is set (``docs/images`` by default)."""
    target = os.environ.get("B2BREC_SCREENSHOTS")
    if target:
        folder = Path(target) if target not in {"1", "docs"} else REPO / "docs" / "images"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"control-plane-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        _unavailable("Debian chromium (/usr/bin/chromium; `make browser` installs it)", FileNotFoundError(CHROMIUM))
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def start_live(settings: Settings, tmp_path: Path, **overrides: Any) -> Iterator[LiveServer]:
    holder: dict[str, Flask] = {}

    def enqueue(name: str, arg: Any) -> None:  # the worker: each task on its own thread
        threading.Thread(target=run_task, args=(holder["app"], name, arg), daemon=True).start()

    app = build_app(settings, tmp_path, overrides=overrides, enqueue=enqueue)
    holder["app"] = app
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop = threading.Event()

    def ticker() -> None:  # the worker's beat: rollout ticks
        while not stop.is_set():
            with app.app_context():
                tick_all(runtime())
            time.sleep(0.3)

    beat = threading.Thread(target=ticker, daemon=True)
    beat.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}", settings, tmp_path)
    finally:
        stop.set()
        beat.join(timeout=5)
        server.shutdown()


def sign_in(browser: Any, live: LiveServer, role: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live.url}/login")
    page.fill("#email", OPERATORS[role])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page
