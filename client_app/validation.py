"""Input checks shared by every form and JSON endpoint: each failure says what is wrong and the fix."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from client_app.errors import AppError

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def text(value: Any, field: str, *, max_len: int = 120, required: bool = True) -> str:
    """A single line of printable text (no control characters), trimmed."""
    raw = "" if value is None else str(value)
    cleaned = raw.strip()
    if not cleaned:
        if required:
            raise AppError(f"{field} is empty", fix=f"fill in {field}")
        return ""
    if len(cleaned) > max_len:
        raise AppError(f"{field} is {len(cleaned)} characters long", fix=f"use at most {max_len} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise AppError(f"{field} contains control characters", fix=f"type {field} as plain text on one line")
    return cleaned


def identifier(value: Any, field: str) -> str:
    """A short name used in secrets and URLs: a letter, then letters, digits, ``_`` or ``-``."""
    cleaned = text(value, field, max_len=64)
    if not _NAME.match(cleaned):
        raise AppError(
            f"{field} {cleaned[:40]!r} is not a valid name",
            fix="start with a letter; use letters, digits, '_' or '-' (at most 64)",
        )
    return cleaned


def email(value: Any, field: str = "email") -> str:
    cleaned = text(value, field, max_len=254).lower()
    if not _EMAIL.match(cleaned):
        raise AppError(f"{field} {cleaned[:60]!r} is not an email address", fix="use the form name@company.com")
    return cleaned


def password(value: Any) -> str:
    raw = "" if value is None else str(value)
    if len(raw) < 10:
        raise AppError("the password is shorter than 10 characters", fix="choose a password of 10 or more characters")
    if len(raw) > 200:
        raise AppError("the password is longer than 200 characters", fix="choose a shorter password")
    if any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise AppError("the password contains control characters", fix="use printable characters only")
    return raw


def integer(value: Any, field: str, *, low: int, high: int, default: int | None = None) -> int:
    if value in (None, "") and default is not None:
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise AppError(
            f"{field} {str(value)[:20]!r} is not a whole number", fix=f"enter a number {low}-{high}"
        ) from None
    if not low <= number <= high:
        raise AppError(f"{field} {number} is outside {low}-{high}", fix=f"enter a number {low}-{high}")
    return number


def number(value: Any, field: str, *, low: float, high: float, default: float | None = None) -> float:
    if value in (None, "") and default is not None:
        return default
    try:
        parsed = float(str(value).strip())
    except ValueError:
        raise AppError(f"{field} {str(value)[:20]!r} is not a number", fix=f"enter a number {low}-{high}") from None
    if not (low <= parsed <= high) or parsed != parsed:
        raise AppError(f"{field} {parsed} is outside {low}-{high}", fix=f"enter a number {low}-{high}")
    return parsed


def choice(value: Any, field: str, options: tuple[str, ...] | list[str]) -> str:
    cleaned = "" if value is None else str(value).strip()
    if cleaned not in options:
        raise AppError(f"{field} {cleaned[:40]!r} is not one of the choices", fix=f"pick one of: {', '.join(options)}")
    return cleaned
