"""check_host: every value of the shared hostile corpus is refused, public addresses pass, the
operator allow-list admits only what it names, and no message echoes the value given."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from b2brec.security.hosts import AllowList, HostRefused, check_host
from tests.security.corpus import SECRET_LIKE


def test_corpus_is_large_and_distinct(hostile_hosts: list[str]) -> None:
    assert len(hostile_hosts) >= 30
    assert len(set(hostile_hosts)) == len(hostile_hosts)
    for added in ("fec0::1", "192.0.0.8", "3fff::1"):  # found by the audit: check_host passed them
        assert added in hostile_hosts


def test_every_hostile_host_is_refused(hostile_host: str) -> None:
    host = hostile_host
    with pytest.raises(HostRefused) as caught:
        check_host(host, 5432)
    err = caught.value
    assert err.code == "host_refused"
    assert err.fix
    if len(host.strip()) > 3 and not host.isalpha():  # never echoed (bare words like "metadata" may be)
        assert host.strip() not in str(err)
        assert host.strip() not in err.fix


@pytest.mark.parametrize("secret", SECRET_LIKE)
def test_passwords_typed_into_the_host_are_not_echoed(secret: str) -> None:
    with pytest.raises(HostRefused) as caught:
        check_host(secret)
    text = f"{caught.value} {caught.value.fix}"
    for part in ("hunter2", "S3cr3t", "Tr0ub4dor", "P@ssw0rd", "Zq9x"):
        assert part not in text


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("8.8.8.8", "8.8.8.8"),
        ("2001:4860:4860::8888", "2001:4860:4860::8888"),
        ("[2606:4700::1111]", "2606:4700::1111"),
    ],
)
def test_public_literals_pass_unchanged(host: str, address: str) -> None:
    resolved = check_host(host, 5432)
    assert resolved.address == address
    assert resolved.port == 5432
    assert resolved.allowed_by is None


def test_allow_list_admits_the_named_network_only() -> None:
    resolved = check_host("127.0.0.1", 5432, allowed=["127.0.0.1/32"])
    assert (resolved.address, resolved.allowed_by) == ("127.0.0.1", "127.0.0.1/32")
    with pytest.raises(HostRefused):
        check_host("127.0.0.2", allowed=["127.0.0.1/32"])
    with pytest.raises(HostRefused):
        check_host("10.0.0.1", allowed=["10.1.0.0/16"])
    assert check_host("10.1.2.3", allowed=["10.1.0.0/16"]).allowed_by == "10.1.0.0/16"


def test_allow_list_by_name_resolves_the_name_once_to_its_address() -> None:
    # This machine's own name resolves (through /etc/hosts) to a loopback address: refused unless
    # the operator names that address's network, and then the address to connect to is the resolved one.
    name = socket.gethostname()
    expected = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)[0][4][0]
    with pytest.raises(HostRefused) as caught:
        check_host(name)
    assert caught.value.category in {"loopback", "private"}
    resolved = check_host(name, allowed=[f"{name.upper()}@{expected}"])
    assert resolved.address == expected and resolved.allowed_by is not None
    assert resolved.host == name.lower()
    assert check_host(name, allowed=[name, f"{expected}/8"]).address == expected


def test_a_name_on_the_allow_list_does_not_admit_whatever_its_dns_returns() -> None:
    """Audit 10, B2: whoever runs the DNS zone of a listed name (the client, for its VPN database)
    could point it at 127.0.0.1, the platform's own databases. A name admits no address by itself."""
    name = socket.gethostname()
    expected = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)[0][4][0]
    assert ipaddress.ip_address(expected).is_loopback  # this machine: 127.0.1.1 through /etc/hosts
    for allowed in (
        [name],
        [name.upper() + "."],
        [f"{name}@10.8.0.0/16"],  # the network the operator meant for that name
        [f"other.example@{expected}", name],  # the address, but for another name only
        ["10.0.0.0/8", "::1/128", name],
    ):
        with pytest.raises(HostRefused) as caught:
            check_host(name, allowed=allowed)
        assert caught.value.category == "loopback", allowed
    with pytest.raises(HostRefused):  # a scoped entry never admits literal addresses typed by the client
        check_host(expected, allowed=[f"{name}@{expected}"])


@pytest.mark.parametrize("host", ["169.254.169.254", "metadata.google.internal", "0.0.0.0", "224.0.0.1"])
def test_metadata_unspecified_multicast_stay_refused_even_if_allowed(host: str) -> None:
    with pytest.raises(HostRefused):
        check_host(host, allowed=["0.0.0.0/0", "::/0", host])


def test_bad_ports_are_refused() -> None:
    for port in (0, 65536, -1):
        with pytest.raises(HostRefused):
            check_host("8.8.8.8", port)


def test_unresolvable_names_are_refused_without_echo() -> None:
    with pytest.raises(HostRefused) as caught:
        check_host("no-such-host.invalid")
    assert caught.value.category == "unresolvable"
    assert "no-such-host" not in str(caught.value)


@pytest.mark.parametrize(
    "entry", ["not a host", "http://x", "a/b/c", "db@", "db@not-a-net", "@10.0.0.0/8", "10.0.0.0/8@x"]
)
def test_allow_list_entries_are_validated(entry: str) -> None:
    with pytest.raises(ValueError):
        AllowList.parse([entry])
