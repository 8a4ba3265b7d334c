"""Confine a path a client typed to one folder (its upload area).

``confine`` resolves symlinks and ``..`` *before* checking, so neither a link planted in the
folder nor ``../../etc/passwd`` leads out of it. A relative path is taken relative to the root.
The message names the path given but never prints a file's contents or a folder listing.

What stays true after the check: the returned path is the real path (no symlink left in it).
A hard link is invisible to it (a linked file *is* in the folder), and a link swapped in between
the check and the read would not be caught by the check alone, so readers open files with
:func:`open_confined`: ``O_NOFOLLOW``, then the opened descriptor itself must be a regular file with
one link, the same inode the check saw, and (where ``/proc`` tells) at the checked path. Locally only
the operator (not the client) can create files in the upload area; on GCP the area is a bucket,
which has neither kind of link.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

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


def refuse_shared_file(path: Path, st: os.stat_result) -> None:
    """Refuse anything but a regular file with a single link: a hard link made into the upload area
    from elsewhere (another client's file, a key) passes :func:`confine`, since it *is* inside."""
    if not stat.S_ISREG(st.st_mode):
        raise PathRefused(
            f"{_shown(path.name)} is not a regular file.", fix="copy the file itself into the upload area."
        )
    if st.st_nlink > 1:
        raise PathRefused(
            f"{_shown(path.name)} has other hard links, so it may be a file from outside the upload area.",
            fix="copy the file itself into the upload area (a copy, not a link).",
        )


def _opened_path(fd: int) -> str | None:
    """Where the open descriptor ``fd`` points now (Linux /proc), or None where that cannot be told."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def open_confined(path: str | os.PathLike[str], root: str | os.PathLike[str], *, checked: bool = False) -> BinaryIO:
    """Open ``path`` for reading if it is a regular, singly linked file inside ``root``, checking the
    descriptor actually opened (``fstat``), so a file or link swapped in after the check is refused.
    ``checked``: ``path`` is a real path :func:`confine` returned earlier; it must still be its own
    real path (a folder on the way swapped for a link since then is refused)."""
    real = confine(path, root)
    if checked and real != Path(path):
        raise PathRefused(f"{_shown(real.name)} now leads elsewhere (a folder was replaced by a link).")
    before = os.lstat(real)  # FileNotFoundError for a missing file: the caller reports it
    refuse_shared_file(real, before)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(real, flags)
    except OSError:
        if os.path.islink(real):  # ELOOP: a symlink put in its place after the check
            raise PathRefused(f"{_shown(real.name)} was replaced by a link while it was being opened.") from None
        raise
    try:
        opened = os.fstat(fd)
        refuse_shared_file(real, opened)
        where = _opened_path(fd)
        if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino) or (
            where is not None and where != str(real)
        ):
            raise PathRefused(f"{_shown(real.name)} was replaced while it was being opened.")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
