"""``b2brec data generate`` / ``append-changes`` through typer's CliRunner."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def _flat(output: str) -> str:
    """Rich wraps errors in a box; join the wrapped lines back up."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", output)


def _count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT COUNT(*) FROM sales").scalar_one()
    finally:
        engine.dispose()


def test_generate_prints_a_summary(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.sqlite'}"
    result = runner.invoke(app, ["data", "generate", "--transactions", "2000", "--seed", "3", "--to", url])
    assert result.exit_code == 0, result.output
    assert "sales lines" in result.stdout and "2,000" in result.stdout and "first sale" in result.stdout
    assert _count(url) == 2_000


def test_default_target_is_the_demo_clients_upload_area(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["data", "generate", "-n", "1000", "--days", "30", "--end-date", "2026-02-01"],
        env={"B2BREC_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 0, result.output
    project = "client-demo-wholesale-dev"
    source = tmp_path / "home" / "clients" / project / "buckets" / f"{project}-data" / "uploads" / "demo-erp.sqlite"
    assert _count(f"sqlite:///{source}") == 1_000
    assert "2026-01" in result.stdout  # the 30 days before 2026-02-01


def test_realistic_goes_to_its_own_file(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["data", "generate", "-n", "3000", "--realistic"], env={"B2BREC_HOME": str(tmp_path / "home")}
    )
    assert result.exit_code == 0, result.output
    assert "realistic" in result.stdout
    project = "client-realistic-wholesale-dev"  # the realistic-dev environment's upload area
    uploads = tmp_path / "home" / "clients" / project / "buckets" / f"{project}-data" / "uploads"
    url = f"sqlite:///{uploads / 'realistic-erp.sqlite'}"
    assert _count(url) == 3_000
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        cancelled = conn.exec_driver_sql("SELECT COUNT(*) FROM sales WHERE invoice_no LIKE 'C%'").scalar_one()
    engine.dispose()
    assert cancelled > 0
    assert not (uploads / "demo-erp.sqlite").exists()


def test_bad_transactions_is_a_usage_error() -> None:
    result = runner.invoke(app, ["data", "generate", "--transactions", "20", "--to", "sqlite:////tmp/never.sqlite"])
    assert result.exit_code == 2
    assert "must be between 1,000 and 10,000,000, got 20" in _flat(result.output)


def test_bad_url_names_the_supported_ones_and_hides_the_password() -> None:
    result = runner.invoke(app, ["data", "generate", "-n", "1000", "--to", "oracle://scott:t1ger-pw@db/x"])
    assert result.exit_code == 2
    assert "unsupported database 'oracle'" in _flat(result.output) and "postgresql+psycopg" in result.output
    assert "t1ger-pw" not in result.output


def test_bad_end_date_and_no_replace(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["data", "generate", "-n", "1000", "--end-date", "1.11.2026", "--to", f"sqlite:///{tmp_path / 'x.sqlite'}"]
    )
    assert result.exit_code == 2 and "use YYYY-MM-DD" in _flat(result.output)
    url = f"sqlite:///{tmp_path / 'erp.sqlite'}"
    assert runner.invoke(app, ["data", "generate", "-n", "1000", "--to", url]).exit_code == 0
    again = runner.invoke(app, ["data", "generate", "-n", "1000", "--to", url, "--no-replace"])
    assert again.exit_code == 2 and "already exist" in _flat(again.output)


def test_files_and_append_changes(tmp_path: Path) -> None:
    files = runner.invoke(
        app, ["data", "generate", "-n", "1000", "--to", f"file://{tmp_path / 'out'}", "--format", "parquet"]
    )
    assert files.exit_code == 0, files.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "customers.parquet",
        "products.parquet",
        "sales.parquet",
    ]
    url = f"sqlite:///{tmp_path / 'erp.sqlite'}"
    assert runner.invoke(app, ["data", "generate", "-n", "1500", "--to", url]).exit_code == 0
    changed = runner.invoke(app, ["data", "append-changes", "-n", "1500", "--to", url, "--new", "30", "--updated", "5"])
    assert changed.exit_code == 0, changed.output
    assert "ids 1501..1530" in changed.stdout
    assert _count(url) == 1_530
