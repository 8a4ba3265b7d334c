"""Mask credentials in text by structure, never by replacing substrings.

Replacing every occurrence of a password in a message turns the message into an oracle: with the
password ``postgres``, ``postgresql://postgres@db`` becomes ``***ql://***@db`` and tells the reader
the password. So the masking here only rewrites places that *are* credentials by their position:

* the user-info of a URL (``scheme://user:PASSWORD@host`` keeps ``user``, hides the rest);
* ``password=…`` / ``pwd=…`` / ``passwd=…`` key-value pairs (libpq, ODBC connection strings).

If a known secret is still in the text after that, the text is not shown at all (it is replaced
by one fixed sentence), because any partial edit of it would leak something.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WITHHELD = "[details withheld: they may contain a credential]"

_KEY_VALUE = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|secret|token)\b\s*[=:]\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^\s;,&]+)",
    re.IGNORECASE,
)
MIN_SECRET_LENGTH = 3
"""Shorter secrets are not searched for (every message would be withheld); they are still masked
wherever they sit in a credential position."""


def _mask_urls(text: str) -> str:
    # The user-info ends at the *last* '@' before the host, so a password with '@' or ':' is
    # masked whole: scan each URL-looking token separately.
    def token(match: re.Match[str]) -> str:
        word = match.group(0)
        scheme_end = word.find("://") + 3
        at = word.rfind("@", scheme_end)
        if at == -1:
            return word
        userinfo = word[scheme_end:at]
        if ":" not in userinfo:
            return word
        user = userinfo.split(":", 1)[0]
        return f"{word[:scheme_end]}{user}:***{word[at:]}"

    return re.sub(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+", token, text)


def mask_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with credentials masked by position; withheld entirely if a secret survives."""
    masked = _mask_urls(text)
    masked = _KEY_VALUE.sub(lambda m: f"{m.group('key')}***", masked)
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH and secret in masked:
            return WITHHELD
    return masked
