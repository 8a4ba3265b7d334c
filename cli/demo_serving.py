"""The demo's last step: start the serving API on the fresh model, send a few requests, show them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
from rich.table import Table

from b2brec.errors import B2BRecError
from b2brec.processes import stop_group
from b2brec.projects.local import LocalClientProject
from cli.common import console
from serving.model.loader import BundleSource


def stop_previous(project: LocalClientProject, *, timeout: float = 30.0) -> None:
    """Stop the API an earlier demo left running (its pid is in logs/serving.pid), so the new
    server can take the port and the requests below reach the fresh model."""
    pid_file = project.logs_dir / "serving.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    pid_file.unlink()
    stop_group(pid, timeout=timeout)


def start_server(
    project: LocalClientProject, *, version: str | None = None, timeout: float = 180.0
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``b2brec serve`` detached (logs in the project's logs/) on ``version`` (default: the newest
    bundle), which it deploys as the client's live version, and wait until /health is ready."""
    stop_previous(project)
    url = project.urls()["serving"]
    log_path = project.logs_dir / "serving.log"
    port = project.ports["serving"]
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise B2BRecError(
                f"port {port} is taken by another process; stop it, or give {project.project_id} another "
                f"serving port in {project.root / 'project.json'}",
                code="service_failed",
            )
    version = version or BundleSource(project.storage("models")).latest()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--client", project.project_id, "--version", version],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "B2BREC_HOME": str(project.home)},
            start_new_session=True,
        )
    (project.logs_dir / "serving.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise B2BRecError(
                f"the serving API exited with code {process.returncode}; see {log_path}", code="service_failed"
            )
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise B2BRecError(f"the serving API was not ready within {timeout:.0f}s; see {log_path}", code="service_failed")


def _items(result: dict[str, Any], shown: int = 3) -> str:
    """The first products, one per line (a fallback says why in front)."""
    names = [item["name"] or item["product_id"] for item in result["items"][:shown]]
    reason = [f"[dim]({result['fallback_reason']})[/dim]"] if result["fallback"] else []
    return "\n".join(reason + names)


def show_requests(url: str, project: LocalClientProject) -> None:
    """A known customer, the same with filters, an unknown customer (fallback) and a small batch."""
    warehouse = project.warehouse(read_only=True)
    customers = (
        warehouse.query(
            "SELECT customer_id, COUNT(*) AS n FROM raw_data.transactions GROUP BY customer_id ORDER BY n DESC LIMIT 3"
        )
        .column("customer_id")
        .to_pylist()
    )
    city = warehouse.query("SELECT city FROM raw_data.customers WHERE city IS NOT NULL LIMIT 1").column("city")[0]
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("top customer", "/recommend", {"customer_id": customers[0], "k": 5}),
        (
            "same, new products only",
            "/recommend",
            {"customer_id": customers[0], "k": 5, "filters": {"exclude_purchased": True}},
        ),
        (
            "unknown customer",
            "/recommend",
            {"customer_id": "NEW-CUSTOMER", "k": 5, "city": city.as_py()},
        ),
    ]
    table = Table(
        "request", "customer", "fallback", "top 3 of 5 products", title=f"serving API at {url}", show_lines=True
    )
    with httpx.Client(base_url=url, timeout=30) as client:
        for label, path, body in requests:
            response = client.post(path, json=body)
            response.raise_for_status()
            data = response.json()["data"]
            table.add_row(label, data["customer_id"], "yes" if data["fallback"] else "no", _items(data))
        batch = client.post("/recommend-batch", json={"customer_ids": customers, "k": 5}).json()["data"]
        for result in batch["results"]:
            table.add_row("batch of 3", result["customer_id"], "yes" if result["fallback"] else "no", _items(result))
        info = client.get("/model-info").json()["data"]
    console.print(table)
    console.print(
        f"every response names its model version ({info['model_version']}, trained at {info['trained_at'][:19]}); "
        f"batch of {len(customers)} scored in {batch['compute_ms']:.2f} ms"
    )
