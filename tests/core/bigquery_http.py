"""A local HTTP server that speaks the part of the BigQuery REST API the platform's queries use
(``jobs.query``): it records every request and answers with rows in the API's own shape, so tests
check the SQL and parameters a ``google-cloud-bigquery`` client really sends over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[list[tuple[str, str]], list[dict[str, Any]]]
"""``([(column, BigQuery type), ...], [row, ...])``: what one query returns."""


@dataclass
class Sent:
    method: str
    path: str
    body: dict[str, Any]

    @property
    def params(self) -> dict[str, str]:
        """The query's named parameters as sent (``{name: value}``)."""
        return {p["name"]: p["parameterValue"]["value"] for p in self.body.get("queryParameters", [])}

    @property
    def param_types(self) -> dict[str, str]:
        return {p["name"]: p["parameterType"]["type"] for p in self.body.get("queryParameters", [])}


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return str(round(value.timestamp() * 1_000_000))  # the client asks for int64 microseconds
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def query_response(project: str, location: str, job: int, answer: Answer) -> dict[str, Any]:
    """A completed ``jobs.query`` response (``QueryResponse``) holding every row in its first page."""
    columns, rows = answer
    return {
        "kind": "bigquery#queryResponse",
        "schema": {"fields": [{"name": n, "type": t, "mode": "NULLABLE"} for n, t in columns]},
        "jobReference": {"projectId": project, "jobId": f"job_{job}", "location": location},
        "totalRows": str(len(rows)),
        "rows": [{"f": [{"v": _cell(row.get(name))} for name, _ in columns]} for row in rows],
        "totalBytesProcessed": "0",
        "jobComplete": True,
        "cacheHit": False,
    }


@dataclass
class BigQueryRecorder:
    """``answer(sql, params)`` decides each query's rows; ``sent`` keeps every request in order."""

    answer: Callable[[str, dict[str, str]], Answer]
    location: str = "EU"
    sent: list[Sent] = field(default_factory=list)
    url: str = ""

    def queries(self) -> list[Sent]:
        return [s for s in self.sent if s.method == "POST" and s.path.endswith("/queries")]

    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.sent.append(Sent(method, path, body))
        parts = path.removeprefix("/bigquery/v2/").split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "projects" and parts[2] == "queries":
            sql = str(body.get("query", ""))
            try:
                answer = self.answer(sql, self.sent[-1].params)
            except KeyError as exc:
                return 400, {"error": {"code": 400, "message": f"unexpected query ({exc})", "status": "INVALID"}}
            return 200, query_response(parts[1], self.location, len(self.sent), answer)
        return 404, {"error": {"code": 404, "message": f"not served here: {method} {path}", "status": "NOT_FOUND"}}


@contextmanager
def bigquery_server(recorder: BigQueryRecorder) -> Iterator[BigQueryRecorder]:
    """Serve ``recorder`` on a free local port; ``recorder.url`` is the client's ``api_endpoint``."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else {}
            status, payload = recorder.handle(self.command, self.path.split("?", 1)[0], body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

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


def recording_client(recorder: BigQueryRecorder, project: str) -> Any:
    """A real ``google.cloud.bigquery.Client`` whose API endpoint is the recorder (no credentials needed)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": recorder.url},
        location=recorder.location,
    )
