"""ETL errors: one code per thing a business user can fix, and scrubbing of secrets.

Driver exceptions are mapped to these by :func:`classify_connect_error`; their text is never
shown as it is, because some drivers echo connection details. :func:`scrub` masks credentials
in any text that leaves this package (messages, logs, the run history) by *structure* (URL
user-info, ``password=`` pairs) and withholds the text if a known secret survives: replacing a
password's substrings would turn messages into an oracle (``***ql`` for the password ``postgres``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from b2brec.errors import B2BRecError
from b2brec.security.masking import mask_secrets


class EtlError(B2BRecError):
    """An ETL problem with a stable code and a fix the user can apply."""

    code = "etl_error"

    def __init__(self, message: str, *, code: str | None = None, fix: str = "") -> None:
        super().__init__(message, code=code, fix=fix or None)

    @property
    def message(self) -> str:
        """The message with this occurrence's own fix (not the registry's generic one) appended."""
        base = str(self)
        return f"{base} Fix: {self._fix}" if self._fix else base


# Stable error codes (shown in the CLI, the run history and the client app).
SECRET_MISSING = "secret_missing"
BAD_CREDENTIALS = "bad_credentials"
HOST_UNREACHABLE = "host_unreachable"
UNKNOWN_DATABASE = "unknown_database"
MISSING_TABLE = "missing_table"
MISSING_COLUMN = "missing_column"
WRONG_COLUMN_TYPE = "wrong_column_type"
MISSING_FILE = "missing_file"
SOURCE_ERROR = "source_error"
LOAD_FAILED = "load_failed"
INVALID_REQUEST = "invalid_request"
HOST_REFUSED = "host_refused"
PATH_REFUSED = "path_refused"
BAD_FILE = "bad_file"

ERROR_CODES: tuple[str, ...] = (
    SECRET_MISSING,
    BAD_CREDENTIALS,
    HOST_UNREACHABLE,
    UNKNOWN_DATABASE,
    MISSING_TABLE,
    MISSING_COLUMN,
    WRONG_COLUMN_TYPE,
    MISSING_FILE,
    SOURCE_ERROR,
    LOAD_FAILED,
    INVALID_REQUEST,
    HOST_REFUSED,
    PATH_REFUSED,
    BAD_FILE,
)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with credentials masked by position; withheld if a secret (or its URL-encoded
    form) is still in it. Never replaces substrings (see the module docstring)."""
    forms = {form for secret in secrets if secret for form in (secret, quote(secret, safe=""), quote_plus(secret))}
    return mask_secrets(text, forms)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        orig = getattr(current, "orig", None)  # SQLAlchemy DBAPIError wraps the driver's error
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
    return seen


def _driver_code(exc: BaseException) -> int | None:
    """MySQL (pymysql) and SQL Server (pymssql) put a numeric code first in ``args``."""
    args = getattr(exc, "args", ())
    first = args[0] if args else None
    if isinstance(first, tuple) and first:  # pymssql: ((code, b"message"), ...)
        first = first[0]
    return first if isinstance(first, int) else None


# Numeric codes: MySQL/MariaDB and SQL Server.
_CREDENTIAL_CODES = {1045, 1698, 18456, 18452}
_UNREACHABLE_CODES = {2002, 2003, 2005, 2006, 2013, 20009, 20002}
# 1044 (MariaDB/MySQL "access denied ... to database"): the login itself succeeded, so the user name and
# password are right; for a user without global rights it is also what an unknown database gives.
_UNKNOWN_DB_CODES = {1049, 1044, 4060}

_CREDENTIAL_TEXT = ("password authentication failed", "no password supplied", "access denied", "login failed")
_CREDENTIAL_ROLE = re.compile(r'role "[^"]*" does not exist')
_UNKNOWN_DB_TEXT = re.compile(r'database "[^"]*" does not exist|unknown database|cannot open database')
_UNREACHABLE_TEXT = (
    "connection refused",
    "timeout expired",
    "timed out",
    "could not translate host name",
    "name or service not known",
    "no route to host",
    "network is unreachable",
    "can't connect",
    "unable to connect",
    "adaptive server is unavailable",
    "connection to server at",
)


def classify_connect_error(exc: BaseException) -> str:
    """Map a driver/SQLAlchemy exception raised while connecting to one of the codes above."""
    for item in _chain(exc):
        code = _driver_code(item)
        if code in _CREDENTIAL_CODES:
            return BAD_CREDENTIALS
        if code in _UNKNOWN_DB_CODES:
            return UNKNOWN_DATABASE
        if code in _UNREACHABLE_CODES:
            return HOST_UNREACHABLE
    text = " ".join(str(item) for item in _chain(exc)).lower()
    if any(marker in text for marker in _CREDENTIAL_TEXT) or _CREDENTIAL_ROLE.search(text):
        return BAD_CREDENTIALS
    if _UNKNOWN_DB_TEXT.search(text):
        return UNKNOWN_DATABASE
    if any(marker in text for marker in _UNREACHABLE_TEXT):
        return HOST_UNREACHABLE
    return SOURCE_ERROR
