"""SSRF guard for database hosts a client types: resolve once, refuse non-public addresses.

``check_host`` turns what a client typed into one IP address the caller must connect to (never
the name again: a second lookup could answer differently, which is how DNS rebinding works).
It refuses:

* anything that is not a bare host name or IP literal: URLs, ``user:password@`` prefixes,
  ``host:port``, Unix socket paths, whitespace and control characters, non-ASCII names;
* numeric forms the C resolver reads as addresses but people don't (``2130706433``,
  ``0x7f.1``, ``0177.0.0.1``, ``127.1``): only canonical dotted quads and IPv6 literals pass;
* names of cloud metadata servers (``metadata.google.internal``) and local-only names
  (``localhost``, ``*.internal``, ``*.local``);
* any resolved address that is loopback, link-local, site-local, private, shared (CGNAT),
  reserved or another IANA special-purpose block (``SPECIAL_PURPOSE``), unspecified, multicast
  or broadcast, including IPv4 addresses wrapped in IPv6
  (``::ffff:127.0.0.1``, NAT64, 6to4, Teredo). If a name resolves to several addresses, every
  one must pass.

An operator (never a client) may allow private addresses for one client by naming networks
(``10.8.0.0/16``, ``127.0.0.1/32``), possibly for one name only (``db.vpn.example@10.8.0.0/16``), in
``allowed``; a host name alone never admits the addresses its DNS returns (see :class:`AllowList`).
Metadata servers, unspecified, multicast and broadcast addresses stay refused whatever the list says.

Messages never echo the value given (a password pasted into the host field must not come back in
an error, a log or the run history) nor the address a name resolved to (no free DNS oracle for
the platform's internal names).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from b2brec.errors import B2BRecError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

RESOLVE_TIMEOUT_SECONDS = 5.0
"""Longest a DNS lookup may take before the host is refused as unresolvable."""

MAX_HOST_LENGTH = 253

ALLOW_FIX = (
    "use the database's public DNS name or IP address. A database on a private network, VPN or "
    "interconnect must first be enabled for this client by the platform operator "
    "(setting B2BREC_SOURCE_HOSTS_ALLOWED)."
)

METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "169.254.169.123", "100.100.100.200", "fd00:ec2::254")
)
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "broadcasthost"})
LOCAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa", ".in-addr.arpa", ".ip6.arpa")
NEVER_ALLOWED = frozenset({"metadata server", "unspecified", "multicast", "broadcast"})

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0[xX][0-9A-Fa-f]*|[0-9]+)$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_BROADCAST = ipaddress.ip_address("255.255.255.255")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")  # deprecated (RFC 3879), still routed inside some sites
SPECIAL_PURPOSE: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        # IANA special-purpose blocks that Python's ipaddress (3.11) calls global: none holds a database.
        "192.0.0.0/24",  # IETF protocol assignments (192.0.0.8 dummy, .9/.10 PCP and TURN anycast)
        "192.31.196.0/24",  # AS112-v4
        "192.52.193.0/24",  # AMT
        "192.88.99.0/24",  # deprecated 6to4 relay anycast (RFC 7526)
        "192.175.48.0/24",  # AS112 direct delegation
        "3fff::/20",  # documentation (RFC 9637)
        "2620:4f:8000::/48",  # AS112-v6
    )
)


class HostRefused(B2BRecError):
    """A host the platform will not connect to. The message never contains the value given."""

    code = "host_refused"

    def __init__(self, message: str, *, fix: str = ALLOW_FIX, category: str | None = None) -> None:
        super().__init__(message, code="host_refused")
        self.fix = fix
        self.category = category


@dataclass(frozen=True)
class ResolvedHost:
    """A host that passed: connect to ``address`` (never re-resolve ``host``)."""

    host: str
    """The name as given, lower-cased, without a trailing dot (for TLS server-name checks)."""
    address: str
    """The one IP address to connect to."""
    port: int | None
    allowed_by: str | None = None
    """The operator allow-list entry that admitted a non-public address, if one did."""

    @property
    def is_ip_literal(self) -> bool:
        return self.host == self.address


@dataclass(frozen=True)
class AllowList:
    """Parsed operator allow-list. What admits a non-public address is always a network the
    operator wrote down, never what a name's DNS answers (whoever runs that zone could point it at
    127.0.0.1 or any private platform address: audit 10, B2):

    * a network or address (``10.8.0.0/16``, ``127.0.0.1``) admits its addresses for any host;
    * ``name@network`` (``db.vpn.acme.example@10.8.0.0/16``) admits addresses inside ``network`` for
      that name only;
    * a bare name (``db.corp.internal``) only lifts the local-name check (``*.internal``); the
      addresses it resolves to must still lie in a listed network.
    """

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    scoped: tuple[tuple[str, IPNetwork], ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Entries are CIDR networks, IP addresses, host names or ``name@network``; raises
        ``ValueError`` on others."""
        networks: list[IPNetwork] = []
        names: set[str] = set()
        scoped: list[tuple[str, IPNetwork]] = []
        for raw in entries:
            entry = raw.strip().lower()
            name, at, network_text = entry.partition("@")
            name = name.rstrip(".")
            if not at:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                    continue
                except ValueError:
                    pass
            if not name or not all(_LABEL.match(label) for label in name.split(".")):
                raise ValueError(
                    f"allow-list entry {raw!r} is neither a network (10.0.0.0/8), a host name nor "
                    "name@network (db.vpn.example@10.8.0.0/16)"
                )
            names.add(name)
            if at:
                try:
                    scoped.append((name, ipaddress.ip_network(network_text, strict=False)))
                except ValueError:
                    raise ValueError(
                        f"allow-list entry {raw!r}: after '@' give the network the name may resolve into "
                        "(db.vpn.example@10.8.0.0/16)"
                    ) from None
        return cls(tuple(networks), frozenset(names), tuple(scoped))

    def match(self, name: str, address: IPAddress) -> str | None:
        """The entry that admits ``address`` for the host ``name``, or ``None``."""
        for scoped_name, network in self.scoped:
            if scoped_name == name and network.version == address.version and address in network:
                return f"{scoped_name}@{network}"
        for network in self.networks:
            if network.version == address.version and address in network:
                return str(network)
        return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo, compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return None


def _category_of(address: IPAddress) -> str | None:
    """Why ``address`` is not public, or ``None`` when it is."""
    if address in METADATA_ADDRESSES:
        return "metadata server"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address == _BROADCAST:
        return "broadcast"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address in _SITE_LOCAL:
        return "site-local"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_private:
        return "private"
    if not address.is_global or address.is_reserved or any(address in n for n in SPECIAL_PURPOSE):
        return "reserved"
    return None


def address_category(address: IPAddress) -> str | None:
    """The category of ``address``, looking inside IPv6 forms that wrap an IPv4 address."""
    category = _category_of(address)
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            inner_category = _category_of(inner)
            if inner_category is not None:  # the address actually reached is the embedded one
                return inner_category
    return category


def _syntax(host: str) -> tuple[str, IPAddress | None]:
    """Normalise and validate the text: ``(name, ip_literal_or_None)``; raises ``HostRefused``."""
    if not host:
        raise HostRefused("the host is empty.", fix="enter the database server's DNS name or IP address.")
    if len(host) > MAX_HOST_LENGTH:
        raise HostRefused(f"the host is longer than {MAX_HOST_LENGTH} characters.", fix="enter only the host name.")
    if "://" in host or "@" in host:
        raise HostRefused(
            "the host looks like a URL or contains a user name or password.",
            fix="enter only the host name (db.example.com); put the user and password in their own fields.",
        )
    if host.startswith(("/", "\\", "unix:", "@")) or "/" in host or "\\" in host:
        raise HostRefused(
            "the host is a path (Unix socket or file), not a network host.",
            fix="enter the TCP host name or IP address of the database server; sockets are not accepted.",
        )
    if not host.isascii() or any(ch.isspace() or not ch.isprintable() for ch in host):
        raise HostRefused(
            "the host contains spaces, control or non-ASCII characters.",
            fix="enter the host name in plain ASCII (internationalised names in their xn-- form).",
        )
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in literal:
        try:
            address = ipaddress.IPv6Address(literal)
        except ValueError:
            raise HostRefused(
                "the host contains ':' but is not an IPv6 address.",
                fix="enter the port in the port field, not after the host name.",
            ) from None
        if address.scope_id:
            raise HostRefused("IPv6 zone ids (%…) are not accepted.", fix="enter a global IPv6 address.")
        return str(address), address
    name = literal.lower().rstrip(".")
    labels = name.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        try:
            return name, ipaddress.IPv4Address(name)
        except ValueError:
            raise HostRefused(
                "the host is a numeric address in a non-standard form (decimal, octal, hex or shortened).",
                fix="write IPv4 addresses as four decimal numbers without leading zeros (203.0.113.7).",
            ) from None
    if not all(_LABEL.match(label) for label in labels):
        raise HostRefused(
            "the host is not a valid host name.",
            fix="use letters, digits and hyphens separated by dots (db.example.com).",
        )
    return name, None


_resolver: ThreadPoolExecutor | None = None


def _resolve(name: str, port: int | None, timeout: float) -> list[IPAddress]:
    global _resolver
    if _resolver is None:
        _resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")
    future = _resolver.submit(socket.getaddrinfo, name, port or 0, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except FutureTimeout:
        raise HostRefused(
            f"the host name did not resolve within {timeout:g} seconds.",
            fix="check the spelling of the host name and that it is published in public DNS.",
            category="unresolvable",
        ) from None
    except (socket.gaierror, UnicodeError, OSError):
        raise HostRefused(
            "the host name does not resolve (DNS has no address for it).",
            fix="check the spelling of the host name and that it is published in public DNS.",
            category="unresolvable",
        ) from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HostRefused("the host name does not resolve.", category="unresolvable")
    return addresses


def check_host_syntax(host: str) -> str:
    """The checks that need no DNS and no allow-list (spec loading, form validation): refuses
    malformed values, URLs, sockets, odd numeric forms, metadata names, and literal addresses
    that no allow-list can admit. Returns the normalised name; connect only after ``check_host``."""
    if not isinstance(host, str):
        raise HostRefused("the host must be text.", fix="enter the database server's DNS name or IP address.")
    name, literal = _syntax(host.strip())
    if name in METADATA_NAMES or name.endswith(".metadata.google.internal"):
        raise HostRefused("the host names a cloud metadata server.", category="metadata server")
    if literal is not None:
        category = address_category(literal)
        if category in NEVER_ALLOWED:
            article = "an" if category[0] in "aeiou" else "a"
            raise HostRefused(f"the host is {article} {category} address.", category=category)
    return name


def check_host(
    host: str,
    port: int | None = None,
    *,
    allowed: Sequence[str] = (),
    resolve_timeout: float = RESOLVE_TIMEOUT_SECONDS,
) -> ResolvedHost:
    """Validate and resolve ``host`` once; return the address to connect to, or raise ``HostRefused``.

    ``allowed`` is the operator's allow-list for this client (networks or host names); it is never
    read from anything a client can edit.
    """
    if not isinstance(host, str):
        raise HostRefused("the host must be text.", fix="enter the database server's DNS name or IP address.")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise HostRefused("the port must be a number from 1 to 65535.", fix="enter the database server's TCP port.")
    allow = AllowList.parse(allowed)
    name, literal = _syntax(host.strip())
    if name in METADATA_NAMES or name.endswith(".metadata.google.internal"):
        raise HostRefused("the host names a cloud metadata server.", category="metadata server")
    if literal is None and (name in LOCAL_NAMES or name.endswith(LOCAL_SUFFIXES)) and name not in allow.names:
        raise HostRefused("the host names this machine or an internal network.", category="local name")
    addresses = [literal] if literal is not None else _resolve(name, port, resolve_timeout)
    allowed_by: str | None = None
    for address in addresses:
        category = address_category(address)
        if category is None:
            continue
        entry = None if category in NEVER_ALLOWED else allow.match(name, address)
        if entry is None:
            what = "is" if literal is not None else "resolves to"
            article = "an" if category[0] in "aeiou" else "a"
            raise HostRefused(f"the host {what} {article} {category} address.", category=category)
        allowed_by = entry
    chosen = next((a for a in addresses if a.version == 4), addresses[0])
    return ResolvedHost(host=name, address=str(chosen), port=port, allowed_by=allowed_by)
