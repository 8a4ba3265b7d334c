"""Host validation for source connections, through the shared hostile-host rules.

``b2brec.security.hosts.check_host`` (sec stream) is the one implementation; until it is on
main this module refuses the obvious cases itself so the wizard is never open meanwhile.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

from control_plane.errors import ControlPlaneError

try:  # pragma: no cover - depends on the merge order of the sec stream
    from b2brec.security.hosts import check_host as _shared_check
except ImportError:  # pragma: no cover
    _shared_check = None

_FIX = (
    "use the database's public DNS name or IP address; a database on a private network must first be "
    "allowed for this client by a platform admin"
)


def _fallback(host: str, port: int | None, allowed: Sequence[str]) -> str:
    if not host or len(host) > 253 or any(c in host for c in "/@:\\ \t\r\n?#%[]") or not host.isascii():
        raise ControlPlaneError("the host is not a plain host name or IP address", code="invalid_input", fix=_FIX)
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except OSError:
        raise ControlPlaneError("the host name does not resolve", code="invalid_input", fix=_FIX) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if any(address in ipaddress.ip_network(net, strict=False) for net in allowed if "/" in net):
            continue
        if not address.is_global:
            raise ControlPlaneError("the host is not a public address", code="invalid_input", fix=_FIX)
    return host


def validate_host(host: str, port: int | None, allowed: Sequence[str]) -> str:
    """The host name to store, or a ``host_refused`` error that never echoes the value."""
    if _shared_check is not None:
        return str(_shared_check(host, port, allowed=allowed).host)
    return _fallback(host, port, allowed)
