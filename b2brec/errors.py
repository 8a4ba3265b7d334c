"""The platform's one error model: a domain exception carrying a stable code.

Messages are shown to users as they are, so they must be safe to show: never a
credential, a connection string with a password, or a stack trace.
"""

from __future__ import annotations


class B2BRecError(Exception):
    """Base of every error a user is meant to read and act on."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)
