"""Confine a path a client typed to one folder (its upload area).

``confine`` resolves symlinks and ``..`` *before* checking, so neither a link planted in the
folder nor ``../../etc/passwd`` leads out of it. A relative path is taken relative to the root.
The message names the path given but never prints a file's contents or a folder listing.

What stays true after the check: the returned path is the real path (no symlink left in it).
A link swapped in between the check and the read would not be caught by the check alone, so
readers confine again right before opening, and locally only the operator (not the client)
can create files in the upload area; on GCP the area is a bucket, which has no symlinks.
"""

from __future__ import annotations

import os
from pathlib import Path

from b2brec.errors import B2BRecError

MAX_PATH_LENGTH = 1024


class PathRefused(B2BRecError):
    """A path outside the folder it must stay in (or not a usable path at all)."""

    code = "path_refused"

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message, code="path_refused")
        self.fix = fix or "give a path inside the client's upload area (relative to it), without links leading out."


def _shown(path: str) -> str:
    printable = "".join(ch if ch.isprintable() else "?" for ch in path)
    return printable if len(printable) <= 120 else printable[:117] + "..."


def confine(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """The real path of ``path`` (relative paths are relative to ``root``) if it lies inside ``root``.

    Raises :class:`PathRefused` when it does not, or when ``path`` is empty, too long or holds a
    NUL byte. The path need not exist (a caller checks that and reports a missing file itself).
    """
    text = os.fspath(path)
    if not isinstance(text, str):
        raise PathRefused("the path must be text.")
    if not text.strip():
        raise PathRefused("the path is empty.")
    if "\x00" in text or len(text) > MAX_PATH_LENGTH:
        raise PathRefused(f"the path holds a NUL byte or is longer than {MAX_PATH_LENGTH} characters.")
    real_root = Path(os.path.realpath(root))
    candidate = Path(text)
    if not candidate.is_absolute():
        candidate = real_root / candidate
    real = Path(os.path.realpath(candidate))
    if real != real_root and not real.is_relative_to(real_root):
        raise PathRefused(f"the path {_shown(text)!r} leads outside the client's upload area.")
    return real
