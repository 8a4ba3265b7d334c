"""Issue 10, case 2 (and the CSV item of case 7): file sources stay in the client's upload area.

Real files, real symlinks, real projects: a CSV/Parquet/SQLite source pointing at another client's
files, the secrets key folder or /etc is refused before anything is read, and no message prints a
file's contents.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from b2brec.context import context_for_spec
from b2brec.etl import EtlError, files, list_runs, run_etl, test_connection
from b2brec.projects.local import LocalClientProject, create_project, upload_area
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, parse_spec
from cli.main import app
from tests.security.conftest import CLIENT_ID, spec_data

SECRET_LINE = "TOPSECRET-ROW-7f3a"


def csv_spec(settings: Settings, path: str, *, kind: str = "csv", client_id: str = CLIENT_ID) -> ClientSpec:
    data: dict[str, Any] = spec_data(settings, client_id=client_id, name=client_id.replace("-", " ").title())
    data["sources"] = {"export": {"kind": kind, "path": path}}
    data["mapping"] = {
        "transactions": {
            "source": "export",
            "table": "sales",
            "columns": {
                "transaction_id": "id",
                "customer_id": "cust",
                "product_id": "sku",
                "timestamp": "sold_at",
                "revenue": "amount",
            },
        }
    }
    return parse_spec(data, origin="test")


def write_sales(folder: Path, extra_lines: str = "", rows: int = 3) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id,cust,sku,sold_at,amount"]
    lines += [f"{i},C{i},S{i},2026-03-0{1 + i % 9}T10:00:00,{i}.5" for i in range(rows)]
    (folder / "sales.csv").write_text("\n".join(lines) + "\n" + extra_lines)


@pytest.fixture
def victim(settings: Settings) -> LocalClientProject:
    """Another client, with sales files in its own upload area and a secret in its store."""
    spec = csv_spec(settings, "export", client_id="victim-co")
    project = create_project(spec, settings)
    write_sales(project.uploads_dir / "export", rows=5)
    (project.uploads_dir / "export" / "sales.csv").write_text(
        "id,cust,sku,sold_at,amount\n1,C1,S1,2026-03-01T10:00:00," + SECRET_LINE + "\n"
    )
    project.secrets().put("erp-password", "victim-password")
    return project


def hostile_paths(settings: Settings, victim: LocalClientProject) -> dict[str, str]:
    return {
        "etc": "/etc",
        "dotdot-etc": "../../../../../../../../etc",
        "keys folder": str(settings.home / "keys"),
        "home via variable": "${B2BREC_HOME}/keys",
        "other client's uploads": str(victim.uploads_dir / "export"),
        "other client's uploads via ..": f"../../../../{victim.project_id}/buckets/"
        f"{victim.spec.bucket('data')}/uploads/export",
        "other client's project": str(victim.root),
        "root": "/",
    }


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_paths_outside_the_upload_area_are_refused_without_reading(
    settings: Settings, victim: LocalClientProject, kind: str
) -> None:
    mine = create_project(csv_spec(settings, "export", kind=kind), settings)
    for what, path in hostile_paths(settings, victim).items():
        spec = csv_spec(settings, path, kind=kind)
        report = test_connection(context_for_spec(spec, settings))
        assert [(c.target, c.code) for c in report.failures] == [("connection", "path_refused")], what
        text = str(report)
        assert SECRET_LINE not in text and "victim-password" not in text
        assert "passwd" not in text and "sales.csv" not in text  # no folder listing either
        with pytest.raises(EtlError) as raised:
            run_etl(context_for_spec(spec, settings))
        assert raised.value.code == "path_refused"
    assert list_runs(mine.warehouse(read_only=True))[0]["error_code"] == "path_refused"


def test_symlinks_planted_in_the_upload_area_are_resolved_before_the_check(
    settings: Settings, victim: LocalClientProject
) -> None:
    mine = create_project(csv_spec(settings, "export"), settings)
    export = mine.uploads_dir / "export"
    export.mkdir(parents=True)
    os.symlink(victim.uploads_dir / "export" / "sales.csv", export / "sales.csv")  # a file link
    os.symlink(victim.uploads_dir / "export", mine.uploads_dir / "linked")  # a folder link
    os.symlink(settings.home / "keys", mine.uploads_dir / "keys")
    for path, code in (("export", "path_refused"), ("linked", "path_refused"), ("keys", "path_refused")):
        report = test_connection(context_for_spec(csv_spec(settings, path), settings))
        assert [c.code for c in report.failures] == [code], path
        assert SECRET_LINE not in str(report)


def test_sqlite_sources_are_confined_too(settings: Settings, victim: LocalClientProject) -> None:
    data = spec_data(settings)
    for path in (str(victim.warehouse_path), "../../../../../../etc/passwd", str(victim.root / "secrets.enc")):
        data["sources"] = {"erp": {"kind": "sqlite", "path": path}}
        spec = parse_spec(data, origin="test")
        create_project(spec, settings)
        report = test_connection(context_for_spec(spec, settings))
        assert [c.code for c in report.failures] == ["path_refused"], path


def test_a_file_inside_the_area_loads(settings: Settings) -> None:
    spec = csv_spec(settings, "export")
    project = create_project(spec, settings)
    write_sales(project.uploads_dir / "export")
    assert upload_area(spec, settings) == project.uploads_dir
    assert run_etl(context_for_spec(spec, settings)).table("transactions").rows_written == 3


def test_an_unparseable_csv_is_one_line_exit_2_recorded_and_quotes_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = csv_spec(settings, "export")
    project = create_project(spec, settings, environment=None)
    write_sales(project.uploads_dir / "export", extra_lines=f"99,C9,S9,{SECRET_LINE},1,surplus\n")
    report = test_connection(context_for_spec(spec, settings))
    assert [(c.target, c.code) for c in report.failures] == [("transactions", "bad_file")]
    assert "Expected 5 columns, got 6" in report.failures[0].detail
    assert SECRET_LINE not in str(report)

    monkeypatch.setenv("B2BREC_HOME", str(settings.home))
    monkeypatch.setenv("B2BREC_ENVIRONMENTS_DIR", str(settings.environments_dir))
    for command in (["etl", "test-connection"], ["etl", "run"]):
        result = CliRunner().invoke(app, [*command, "--client", CLIENT_ID])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and SECRET_LINE not in result.output
        assert "bad_file" in result.output
    runs = list_runs(project.warehouse(read_only=True))
    assert (runs[0]["status"], runs[0]["error_code"]) == ("failed", "bad_file")
    assert SECRET_LINE not in str(runs)


def test_a_bad_line_found_only_while_loading_is_a_bad_file_error_too(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection test parses the first block; a broken line further on surfaces in the load,
    where dlt wraps it: it must still be the one-line bad_file error, recorded, quoting nothing."""
    monkeypatch.setattr(files, "BATCH_BYTES", 256)  # small blocks: the bad line is past the first one
    spec = csv_spec(settings, "export")
    project = create_project(spec, settings)
    write_sales(project.uploads_dir / "export", rows=3000, extra_lines=f"99,C9,S9,{SECRET_LINE},1,surplus\n")
    assert test_connection(context_for_spec(spec, settings)).ok
    with pytest.raises(EtlError) as raised:
        run_etl(context_for_spec(spec, settings))
    assert raised.value.code == "bad_file"
    assert SECRET_LINE not in raised.value.message
    runs = list_runs(project.warehouse(read_only=True))
    assert (runs[0]["status"], runs[0]["error_code"]) == ("failed", "bad_file")


def test_file_sources_are_refused_on_gcp(settings: Settings) -> None:
    """On GCP the ETL job would read its own container's files: refused until they come from the bucket."""
    from b2brec.etl.sources import source_path
    from b2brec.settings import Backend

    spec = csv_spec(settings, "export")
    gcp = settings.model_copy(update={"backend": Backend.GCP})
    with pytest.raises(EtlError) as raised:
        source_path("export", spec.sources["export"], spec, gcp)
    assert raised.value.code == "path_refused"


HEADER_SECRET = "TOPSECRET-HEADER-1"


def test_a_missing_column_reports_a_count_and_the_expected_names_never_the_header(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit 10, B3: the header row used to be printed ("the file has: TOPSECRET-HEADER-1, pw=hunter2")
    by the connection test and the load, and kept in the run history."""
    spec = csv_spec(settings, "export")
    project = create_project(spec, settings)
    export = project.uploads_dir / "export"
    export.mkdir(parents=True)
    (export / "sales.csv").write_text(f"{HEADER_SECRET},pw=hunter2\n1,2\n")
    report = test_connection(context_for_spec(spec, settings))
    (failure,) = report.failures
    assert (failure.target, failure.code) == ("transactions", "missing_column")
    assert "header row has 2 columns" in str(report) and "id, cust, sku, sold_at, amount" in str(report)

    monkeypatch.setenv("B2BREC_HOME", str(settings.home))
    monkeypatch.setenv("B2BREC_ENVIRONMENTS_DIR", str(settings.environments_dir))
    outputs = [str(report)]
    for command in (["etl", "test-connection"], ["etl", "run"]):
        result = CliRunner().invoke(app, [*command, "--client", CLIENT_ID])
        assert result.exit_code == 2, result.output
        assert "missing_column" in result.output
        outputs.append(result.output)
    with pytest.raises(EtlError) as raised:
        run_etl(context_for_spec(spec, settings))
    outputs += [raised.value.message, raised.value.fix or ""]
    runs = list_runs(project.warehouse(read_only=True))
    assert runs and all(run["error_code"] == "missing_column" for run in runs)
    outputs.append(str(runs))
    for text in outputs:
        assert HEADER_SECRET not in text and "hunter2" not in text, text


def test_a_hard_link_into_the_upload_area_is_refused(settings: Settings, victim: LocalClientProject) -> None:
    """A hard link *is* inside the area, so confine cannot see it; its link count gives it away."""
    spec = csv_spec(settings, "export")
    mine = create_project(spec, settings)
    export = mine.uploads_dir / "export"
    export.mkdir(parents=True)
    os.link(victim.uploads_dir / "export" / "sales.csv", export / "sales.csv")
    report = test_connection(context_for_spec(spec, settings))
    assert [(c.target, c.code) for c in report.failures] == [("transactions", "path_refused")]
    assert "hard links" in str(report) and SECRET_LINE not in str(report)
    with pytest.raises(EtlError) as raised:
        run_etl(context_for_spec(spec, settings))
    assert raised.value.code == "path_refused" and SECRET_LINE not in raised.value.message
    assert list_runs(mine.warehouse(read_only=True))[0]["error_code"] == "path_refused"

    # A SQLite source hard-linked to another client's secrets store.
    data = spec_data(settings)
    data["sources"] = {"erp": {"kind": "sqlite", "path": "erp.sqlite"}}
    sqlite_spec = parse_spec(data, origin="test")
    create_project(sqlite_spec, settings)
    os.link(victim.root / "secrets.enc", mine.uploads_dir / "erp.sqlite")
    report = test_connection(context_for_spec(sqlite_spec, settings))
    assert [c.code for c in report.failures] == ["path_refused"]


@pytest.mark.parametrize("swap", ["file", "symlink", "folder"])
def test_a_file_swapped_between_the_check_and_the_open_is_refused(
    settings: Settings, victim: LocalClientProject, monkeypatch: pytest.MonkeyPatch, swap: str
) -> None:
    """The check (confine, link count) and the open are separate steps: the opened descriptor is
    checked again (O_NOFOLLOW, fstat inode and link count, its /proc path)."""
    from b2brec.security import paths

    spec = csv_spec(settings, "export")
    mine = create_project(spec, settings)
    export = mine.uploads_dir / "export"
    write_sales(export)
    (checked,) = files.resolve_files(
        export.resolve(), spec.sources["export"].kind, "transactions", spec.mapping["transactions"]
    )
    assert files.file_columns(checked, spec.sources["export"].kind)  # untouched: it opens
    outside = victim.uploads_dir / "export"

    def swapped() -> None:
        if swap == "file":  # another file renamed over it (a new inode)
            (export / "other.csv").write_text((outside / "sales.csv").read_text())
            os.replace(export / "other.csv", checked)
        elif swap == "symlink":
            checked.unlink()
            os.symlink(outside / "sales.csv", checked)
        else:  # the folder on the way replaced by a link to another client's folder
            os.rename(export, mine.uploads_dir / "export-old")
            os.symlink(outside, export)

    real_refuse = paths.refuse_shared_file
    calls: list[int] = []

    def refuse_then_swap(path: Path, st: os.stat_result) -> None:  # runs right after the check's lstat
        real_refuse(path, st)
        if not calls:
            calls.append(1)
            swapped()

    if swap == "folder":
        swapped()  # between resolve_files (the check) and the read
    else:
        monkeypatch.setattr(paths, "refuse_shared_file", refuse_then_swap)
    with pytest.raises(EtlError) as raised:
        files.file_columns(checked, spec.sources["export"].kind)
    assert raised.value.code == "path_refused", raised.value.message
    assert SECRET_LINE not in raised.value.message
