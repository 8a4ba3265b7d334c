"""The shared corpus of hostile database hosts: every entry point that takes a host (CLI, spec
loading, ETL connection test and load, the client app's connection form, the control plane's
onboarding wizard) runs its tests over ``HOSTILE_HOSTS`` and must refuse every value. Tests reach
it through the fixtures ``hostile_hosts`` (the list) and ``hostile_host`` (one test per value) of
``tests/conftest.py``; this module is their data.

Each value is refused by :func:`b2brec.security.hosts.check_host` with an empty allow-list; the
comment says which rule catches it. ``SECRET_LIKE`` values look like passwords pasted into the
host field: no message may echo them.
"""

from __future__ import annotations

import socket

SECRET_LIKE: list[str] = [
    "hunter2:S3cr3t!pw@db.example.com",  # credentials before the host
    "postgresql://admin:Tr0ub4dor&3@db.example.com:5432/erp",  # a whole URL with a password
    "P@ssw0rd-Zq9x!",  # a password typed into the host field
]

HOSTILE_HOSTS: list[str] = [
    # loopback, IPv4 forms
    "127.0.0.1",
    "127.0.0.2",
    "127.1",  # shortened: the C resolver reads 127.0.0.1
    "2130706433",  # decimal 127.0.0.1
    "0x7f000001",  # hex
    "0x7f.0x0.0x0.0x1",  # hex per octet
    "0177.0.0.1",  # octal
    "017700000001",  # octal, one number
    "127.000.000.001",  # leading zeros
    # loopback, IPv6 forms
    "::1",
    "[::1]",
    "0:0:0:0:0:0:0:1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:7f00:1",  # IPv4-mapped, hex
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    # unspecified, multicast, broadcast
    "0.0.0.0",
    "0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    # metadata servers
    "169.254.169.254",
    "metadata.google.internal",
    "metadata.google.internal.",  # trailing dot
    "METADATA.GOOGLE.INTERNAL",
    "metadata",
    "::ffff:169.254.169.254",
    "fd00:ec2::254",
    "0xa9fea9fe",  # 169.254.169.254 in hex
    # link-local, private, shared, reserved
    "169.254.0.1",
    "fe80::1",
    "fe80::1%eth0",  # zone id
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "fc00::1",
    "100.64.0.1",  # carrier-grade NAT
    "192.0.2.10",  # documentation
    "240.0.0.1",  # reserved
    "fec0::1",  # deprecated IPv6 site-local (Python's ipaddress calls it global)
    "feff::1",  # the top of site-local
    "192.0.0.8",  # IPv4 dummy address (RFC 7600)
    "192.0.0.9",  # IETF protocol assignments: PCP anycast
    "3fff::1",  # IPv6 documentation (RFC 9637)
    "192.31.196.1",  # AS112-v4
    "192.52.193.1",  # AMT
    "192.88.99.1",  # deprecated 6to4 relay anycast
    "192.175.48.1",  # AS112 direct delegation
    "2620:4f:8000::1",  # AS112-v6
    "198.18.0.1",  # benchmarking
    "100::1",  # discard-only
    "2001:db8::1",  # documentation
    # names that mean this machine or an internal network
    "localhost",
    "LOCALHOST.",
    "foo.localhost",
    "ip6-localhost",
    "db.c.platform-project.internal",
    "printer.local",
    socket.gethostname(),  # this machine's own name: resolves to a loopback address
    # sockets, paths and URLs
    "/var/run/postgresql",
    "/tmp/.s.PGSQL.5432",
    "/run/mysqld/mysqld.sock",
    "unix:/var/run/postgresql",
    "@abstract-socket",
    "\\\\server\\share",
    "file:///etc/passwd",
    "http://169.254.169.254/computeMetadata/v1/",
    "gopher://127.0.0.1:6379/_INFO",
    "db.example.com:5432",  # port in the host field
    "127.0.0.1:5432",
    # malformed
    "",
    " ",
    "db.example.com\r\nX-Injected: 1",
    "db\x00.example.com",
    "exa mple.com",
    "ｌｏｃａｌｈｏｓｔ",  # full-width letters
    "１２７.０.０.１",  # full-width digits
    "a" * 300,
    "-db.example.com",
    *SECRET_LIKE,
]
