"""Checks applied to hostile input before it reaches the network or the file system.

* :func:`b2brec.security.hosts.check_host`: a database host a client typed (SSRF guard).
* :func:`b2brec.security.paths.confine`: a file path a client typed (confined to its upload area).

Every entry point (CLI, spec loading, ETL, the web apps) uses these two; the shared corpus of
hostile values lives in ``tests/security/corpus.py``.
"""

from b2brec.security.hosts import HostRefused, ResolvedHost, check_host
from b2brec.security.paths import PathRefused, confine

__all__ = ["HostRefused", "PathRefused", "ResolvedHost", "check_host", "confine"]
