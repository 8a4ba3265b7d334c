"""A local fleet for control plane tests: real local client projects, registered in the control
plane, each with a stand-in serving endpoint.

The stand-in is a real HTTP server (one for the whole fleet, a path per client) that reads the
template version the client's local project runs (``project.json``, written by the provisioner)
and answers ``/health`` 200, or 503 when that version is in ``broken``: how a release whose
serving fails its health check shows up. Everything the control plane does (apply versions
through the provisioner, probe over HTTP, gate, roll back) is the real code."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from b2brec.projects.local import create_project
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, load_environment


@contextmanager
def stand_in_serving(settings: Settings, broken: set[str]) -> Iterator[str]:
    """Serve ``/c/{project_id}/health`` and ``/metrics``; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            parts = self.path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "c":
                self.send_error(404)
                return
            project_file = settings.clients_dir / parts[1] / "project.json"
            if not project_file.exists():
                self.send_error(404)
                return
            version = json.loads(project_file.read_text())["spec"]["template_version"]
            if parts[2] == "metrics":
                body, status = b'b2brec_serving_requests_total{endpoint="/recommend",outcome="success"} 10\n', 200
            else:
                status = 503 if version in broken else 200
                body = json.dumps({"status": "ok" if status == 200 else "error", "template_version": version}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fleet_specs(settings: Settings, count: int, *, version: str) -> list[ClientSpec]:
    base = load_environment(settings.environments_dir, "demo-dev")
    return [
        base.model_copy(
            update={
                "client_id": f"fleet-{i:03d}",
                "name": f"Fleet Client {i:03d}",
                "template_version": version,
                "created": date(2026, 11, 1),
            }
        )
        for i in range(count)
    ]


def create_fleet(settings: Settings, specs: list[ClientSpec]) -> list[Path]:
    return [create_project(spec, settings).root for spec in specs]
