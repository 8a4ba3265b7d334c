"""The serving API's keys as the secret ``serving-api-keys`` holds them: read by serving (to accept them)
and by the client app (to list and rotate them), so it lives in the core both images install."""

from __future__ import annotations

import re


def split_keys(value: str) -> tuple[bytes, ...]:
    """API keys separated by commas or whitespace (one per line is the usual form)."""
    return tuple(key.encode() for key in re.split(r"[,\s]+", value) if key)
