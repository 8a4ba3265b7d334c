"""Issue 10, case 3 (and the socket-host, MariaDB and timeout items of case 7): database hosts.

Real listeners on this machine stand for the platform's own services; each hostile value goes
through spec loading and the connection test (and the load, the CLI), and must never reach them.
"""

from __future__ import annotations

import socket
import time

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from b2brec.context import context_for_spec
from b2brec.etl import EtlError, run_etl, test_connection
from b2brec.etl.sources import resolve_source
from b2brec.projects.local import LocalClientProject, create_project
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, SpecError, parse_spec
from cli.main import app
from tests.security.conftest import CLIENT_ID, allow, db_spec, spec_data
from tests.security.servers import listening

KINDS = ["postgresql", "mysql"]


def _try_spec(settings: Settings, host: str, port: int, kind: str) -> ClientSpec | None:
    """The spec with ``host``, or None when spec loading already refuses it (without echoing it)."""
    try:
        return db_spec(settings, host, port, kind=kind)
    except SpecError as exc:
        if len(host.strip()) > 3 and not host.isalpha():
            assert host.strip() not in str(exc)
        return None


@pytest.mark.parametrize("kind", KINDS)
def test_every_hostile_host_is_refused_by_spec_loading_or_the_connection_test(
    settings: Settings, project: LocalClientProject, kind: str, hostile_hosts: list[str]
) -> None:
    with listening("silent") as local, listening("silent", "::1") as local6:
        for host in hostile_hosts:
            port = local6.port if ":" in host else local.port
            spec = _try_spec(settings, host, port, kind)
            if spec is None:
                continue
            report = test_connection(context_for_spec(spec, settings))
            assert [(c.target, c.code) for c in report.failures] == [("connection", "host_refused")], host
            if len(host.strip()) > 3 and not host.isalpha():
                assert host.strip() not in str(report)
        assert (local.accepted, local6.accepted) == (0, 0)


def test_the_load_refuses_what_the_test_refuses_even_for_a_spec_that_skipped_validation(
    settings: Settings, project: LocalClientProject, hostile_host: str
) -> None:
    """A socket path used to pass the connection test and fail only in the load; a web form that
    built a spec without validation (model_construct) must still be stopped before connecting. The
    whole corpus: nothing reaches a listener (the host check comes before any network I/O)."""
    good = db_spec(settings, "8.8.8.8", 5432)
    with listening("silent") as local, listening("silent", "::1") as local6:
        port = local6.port if ":" in hostile_host else local.port
        source = good.sources["erp"].model_copy(update={"host": hostile_host, "port": port})
        spec = good.model_copy(update={"sources": {"erp": source}})
        with pytest.raises(EtlError) as raised:
            run_etl(context_for_spec(spec, settings))
        assert raised.value.code == "host_refused", raised.value.message
        if len(hostile_host.strip()) > 3 and not hostile_host.isalpha():
            assert hostile_host.strip() not in f"{raised.value.message} {raised.value.fix}"
        assert (local.accepted, local6.accepted) == (0, 0)


def test_cli_test_connection_refuses_every_hostile_host_with_one_line_and_exit_2(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, hostile_host: str
) -> None:
    """``b2brec etl test-connection`` over the whole corpus, each value written into the project's spec
    as a web form that skipped validation would: exit 2, one error line, the value never echoed."""
    monkeypatch.setenv("B2BREC_HOME", str(settings.home))
    monkeypatch.setenv("B2BREC_ENVIRONMENTS_DIR", str(settings.environments_dir))
    monkeypatch.setenv("COLUMNS", "400")  # one logical line stays one printed line
    good = db_spec(settings, "8.8.8.8", 5432)
    with listening("silent") as local, listening("silent", "::1") as local6:
        port = local6.port if ":" in hostile_host else local.port
        source = good.sources["erp"].model_copy(update={"host": hostile_host, "port": port})
        create_project(good.model_copy(update={"sources": {"erp": source}}), settings)
        result = CliRunner().invoke(app, ["etl", "test-connection", "--client", CLIENT_ID])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        errors = [line for line in result.output.splitlines() if "host_refused" in line or "invalid_spec" in line]
        assert len(errors) == 1, result.output
        if len(hostile_host.strip()) > 3 and not hostile_host.isalpha():
            assert hostile_host.strip() not in result.output
        assert (local.accepted, local6.accepted) == (0, 0)


def test_the_operator_allow_list_admits_only_the_named_network_for_that_client(
    settings: Settings, project: LocalClientProject
) -> None:
    with listening("silent") as local:
        spec = db_spec(settings, "127.0.0.1", local.port)
        other_client = allow(settings, "someone-else", "127.0.0.1/32")
        assert test_connection(context_for_spec(spec, other_client)).failures[0].code == "host_refused"
        wrong_net = allow(settings, CLIENT_ID, "10.0.0.0/8")
        assert test_connection(context_for_spec(spec, wrong_net)).failures[0].code == "host_refused"
        assert local.accepted == 0
        allowed = allow(settings, CLIENT_ID, "127.0.0.1/32").model_copy(update={"source_connect_timeout_s": 2.0})
        report = test_connection(context_for_spec(spec, allowed))
        assert report.failures[0].code == "host_unreachable"  # reached, but it does not speak PostgreSQL
        assert local.accepted == 1


def test_a_name_is_resolved_once_and_the_engine_connects_to_that_address(
    settings: Settings, project: LocalClientProject
) -> None:
    """The URL handed to SQLAlchemy and ConnectorX carries the address check_host resolved, so the
    driver never looks the name up again (a second answer cannot point it elsewhere)."""
    name = socket.gethostname()  # resolves through /etc/hosts to a loopback address
    address = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)[0][4][0]
    spec = db_spec(settings, name, 5432)
    allowed = allow(settings, CLIENT_ID, f"{name}@{address}")
    handle = resolve_source("erp", spec.sources["erp"], project.secrets(), spec, allowed)
    assert handle.url.host == address
    assert name in handle.describe()  # messages keep the name the client typed
    for refusing in (settings, allow(settings, CLIENT_ID, name)):  # the name alone admits no address
        with pytest.raises(EtlError) as raised:
            resolve_source("erp", spec.sources["erp"], project.secrets(), spec, refusing)
        assert raised.value.code == "host_refused"


@pytest.mark.parametrize("kind", KINDS)
def test_refused_silent_filtered_and_foreign_ports_look_alike(
    settings: Settings, project: LocalClientProject, kind: str
) -> None:
    """One code, one message, one duration (the stated timeout) whatever is behind the port,
    so the connection test is no port scanner. MariaDB used to wait twice the stated timeout."""
    timeout = 2.0
    allowed = allow(settings, CLIENT_ID, "127.0.0.1/32").model_copy(update={"source_connect_timeout_s": timeout})
    outcomes = {}
    for mode in ("refused", "silent", "garbage", "filtered"):
        with listening(mode) as target:
            spec = db_spec(settings, "127.0.0.1", target.port, kind=kind)
            started = time.monotonic()
            report = test_connection(context_for_spec(spec, allowed))
            elapsed = time.monotonic() - started
        failure = report.failures[0]
        outcomes[mode] = (failure.code, failure.detail.replace(str(target.port), "PORT"), failure.fix)
        assert timeout <= elapsed < timeout + 1.0, (mode, elapsed)
        assert f"within {timeout:g} seconds" in failure.detail
    assert len(set(outcomes.values())) == 1, outcomes
    assert next(iter(outcomes.values()))[0] == "host_unreachable"


def test_mariadb_unknown_database_is_not_reported_as_bad_credentials(settings: Settings, mysql_url: str) -> None:
    """A user without global rights gets 'access denied to database' (1044) for a database that does
    not exist: its login worked, so the right answer is unknown_database, not bad_credentials."""
    from b2brec.projects.local import create_project

    url = sa.make_url(mysql_url)
    user = f"sec_{socket.gethostname()[:4]}_{int(time.time() * 1000) % 10**8}"
    admin = sa.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'"))
        conn.execute(sa.text(f"GRANT SELECT ON `{url.database}`.* TO '{user}'@'%'"))
    try:
        data = spec_data(settings)
        data["sources"] = {
            "erp": {
                "kind": "mysql",
                "host": "127.0.0.1",
                "port": url.port or 3306,
                "database": "no_such_db_b2brec_sec",
                "username": user,
                "password_secret": "erp-pw",
            }
        }
        spec = parse_spec(data, origin="test")
        allowed = allow(settings, CLIENT_ID, "127.0.0.1/32")
        create_project(spec, allowed).secrets().put("erp-pw", f"pw-{user}")
        report = test_connection(context_for_spec(spec, allowed))
        assert [c.code for c in report.failures] == ["unknown_database"]
        assert "no_such_db_b2brec_sec" in report.failures[0].detail
        source = spec.sources["erp"].model_copy(update={"database": url.database})
        wrong = spec.model_copy(update={"sources": {"erp": source}})
        create_project(wrong, allowed).secrets().put("erp-pw", "not-the-password")
        assert [c.code for c in test_connection(context_for_spec(wrong, allowed)).failures] == ["bad_credentials"]
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
        admin.dispose()
