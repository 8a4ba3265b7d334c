"""Success responses in the project's shape, serialised with orjson (large batches are ~1 MB)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def ok(message: str, data: Any, status_code: int = 200) -> FastJSONResponse:
    return FastJSONResponse({"status": "success", "message": message, "data": data}, status_code=status_code)
