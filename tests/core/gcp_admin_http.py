"""A local HTTP server that speaks the part of Secret Manager (v1: secrets.create, addVersion, access)
and Cloud Run Admin (v2: jobs:run, executions GET) the control plane's create job uses. It records
every request and keeps state like the APIs do (a version needs its secret; an execution started by
jobs:run ends after ``polls_to_finish`` GETs as the test decides), so tests check what the real
``google-cloud-secret-manager`` and ``google-cloud-run`` REST clients send."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

EXECUTION_TYPE = "type.googleapis.com/google.cloud.run.v2.Execution"
LOG_URI = "https://console.cloud.google.com/logs/viewer?execution={name}"


@dataclass
class Sent:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]


def _not_found(what: str) -> tuple[int, dict[str, Any]]:
    return 404, {"error": {"code": 404, "message": f"{what} not found", "status": "NOT_FOUND"}}


@dataclass
class GcpAdminRecorder:
    """``secrets``: ``{project/secret: [payload, ...]}`` (existing containers start with ``[]``);
    ``fail_with``: when set, every execution ends failed with this condition message."""

    secrets: dict[str, list[str]] = field(default_factory=dict)
    polls_to_finish: int = 2
    fail_with: str | None = None
    sent: list[Sent] = field(default_factory=list)
    executions: dict[str, int] = field(default_factory=dict)
    url: str = ""

    def calls(self) -> list[str]:
        return [f"{s.method} {s.path}" for s in self.sent]

    def handle(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        self.sent.append(Sent(method, path, query, body))
        if path.startswith("/v1/projects/"):
            return self._secret_manager(method, path.removeprefix("/v1/projects/"), query, body)
        if path.startswith("/v2/projects/"):
            return self._cloud_run(method, path.removeprefix("/v2/"), body)
        return _not_found(path)

    def _secret_manager(self, method: str, rest: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        parts = rest.split("/")
        if method == "POST" and len(parts) == 2 and parts[1] == "secrets":
            key = f"{parts[0]}/{query.get('secretId', '')}"
            if key in self.secrets:
                return 409, {"error": {"code": 409, "message": "already exists", "status": "ALREADY_EXISTS"}}
            self.secrets[key] = []
            return 200, {"name": f"projects/{parts[0]}/secrets/{query['secretId']}", **body}
        if method == "POST" and len(parts) == 3 and parts[2].endswith(":addVersion"):
            key = f"{parts[0]}/{parts[2].removesuffix(':addVersion')}"
            if key not in self.secrets:
                return _not_found(f"secret {key}")
            self.secrets[key].append(base64.b64decode(body["payload"]["data"]).decode())
            name = f"projects/{parts[0]}/secrets/{key.split('/')[1]}/versions/{len(self.secrets[key])}"
            return 200, {"name": name, "state": "ENABLED"}
        if method == "GET" and len(parts) == 5 and parts[4] == "latest:access":
            values = self.secrets.get(f"{parts[0]}/{parts[2]}") or []
            if not values:
                return _not_found("secret version")
            data = base64.b64encode(values[-1].encode()).decode()
            return 200, {"name": rest, "payload": {"data": data}}
        return _not_found(rest)

    def _execution(self, name: str) -> dict[str, Any]:
        polls = self.executions[name]
        done = polls >= self.polls_to_finish
        execution: dict[str, Any] = {
            "name": name,
            "taskCount": 1,
            "logUri": LOG_URI.format(name=name.rsplit("/", 1)[-1]),
            "createTime": "2026-11-30T12:00:00Z",
        }
        if polls >= 1:
            execution["startTime"] = "2026-11-30T12:00:05Z"
            execution["runningCount"] = 0 if done else 1
        if done:
            execution["completionTime"] = "2026-11-30T12:03:00Z"
            if self.fail_with:
                execution["failedCount"] = 1
                execution["conditions"] = [
                    {"type": "Completed", "state": "CONDITION_FAILED", "message": self.fail_with}
                ]
            else:
                execution["succeededCount"] = 1
        return execution

    def _cloud_run(self, method: str, rest: str, body: dict[str, Any]) -> tuple[int, Any]:
        parts = rest.split("/")
        if method == "POST" and len(parts) == 6 and parts[5].endswith(":run"):
            job = "/".join(parts[:5]) + "/" + parts[5].removesuffix(":run")
            name = f"{job}/executions/{parts[5].removesuffix(':run')}-x{len(self.executions) + 1}"
            self.executions[name] = 0
            operation = f"{'/'.join(parts[:4])}/operations/op-{len(self.executions)}"
            return 200, {"name": operation, "metadata": {"@type": EXECUTION_TYPE, **self._execution(name)}}
        if method == "GET" and "/executions/" in rest:
            if rest not in self.executions:
                return _not_found(rest)
            self.executions[rest] += 1
            return 200, self._execution(rest)
        return _not_found(rest)


@contextmanager
def gcp_admin_server(recorder: GcpAdminRecorder) -> Iterator[GcpAdminRecorder]:
    """Serve ``recorder`` on a free local port; ``recorder.url`` is the clients' ``api_endpoint``."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else {}
            split = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            status, payload = recorder.handle(self.command, split.path, query, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
