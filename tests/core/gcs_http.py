"""A recording HTTP transport for ``google-cloud-storage``: it keeps every request the client
builds and answers like the GCS JSON API for one bucket (object generations, ``ifGenerationMatch``
answered with 412 on a mismatch), so tests check the requests the CAS store sends."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import requests
import urllib3


@dataclass
class Sent:
    method: str
    url: str
    params: dict[str, str]
    body: bytes


@dataclass
class GcsHttp:
    bucket: str
    objects: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    is_mtls: bool = False
    _next_generation: int = 1000

    def request(self, method: str, url: str, data: Any = None, headers: Any = None, **_: Any) -> requests.Response:
        parsed = urlparse(url)
        params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        body = data if isinstance(data, bytes) else (data.read() if hasattr(data, "read") else b"")
        self.sent.append(Sent(method, url, params, body))
        response = self._answer(method, url, parsed.path, params, body)
        response.request = requests.Request(method, url).prepare()
        response.url = url
        return response

    def _answer(self, method: str, url: str, raw_path: str, params: dict[str, str], body: bytes) -> requests.Response:
        path = unquote(raw_path)
        if path.startswith(f"/download/storage/v1/b/{self.bucket}/o/"):
            name = path.split("/o/", 1)[1]
            if name not in self.objects:
                return _response(404, {"error": {"code": 404, "message": "No such object"}})
            content, generation = self.objects[name]
            return _response(200, content, {"X-goog-generation": str(generation)})
        if path.startswith(f"/upload/storage/v1/b/{self.bucket}/o"):
            boundary = body.split(b"\r\n", 1)[0]
            parts = [p.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for p in body.split(boundary)[1:-1]]
            name, content = json.loads(parts[0])["name"], parts[1]
            current = self.objects.get(name, (b"", 0))[1]
            if "ifGenerationMatch" in params and int(params["ifGenerationMatch"]) != current:
                return _response(412, {"error": {"code": 412, "message": "Precondition Failed"}})
            self._next_generation += 1
            self.objects[name] = (content, self._next_generation)
            return _response(200, {"bucket": self.bucket, "name": name, "generation": str(self._next_generation)})
        if path == f"/storage/v1/b/{self.bucket}":
            return _response(200, {"name": self.bucket})
        if path == f"/storage/v1/b/{self.bucket}/o":
            prefix = params.get("prefix", "")
            items = [{"name": n, "bucket": self.bucket} for n in sorted(self.objects) if n.startswith(prefix)]
            return _response(200, {"kind": "storage#objects", "items": items})
        return _response(404, {"error": {"code": 404, "message": f"unexpected {method} {path}"}})


def _response(status: int, payload: Any, headers: dict[str, str] | None = None) -> requests.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.raw = urllib3.HTTPResponse(
        body=io.BytesIO(body), headers=all_headers, status=status, preload_content=False
    )
    response.headers.update(all_headers)
    return response
