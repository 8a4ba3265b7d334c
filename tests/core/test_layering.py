"""The import contract in pyproject.toml holds for the repository and catches a violation when one appears.

The violating cases build a tiny project in a temporary folder with the repository's own contract
table, so the test exercises the real configuration and the real runner (scripts/lint_imports.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNNER = REPO_ROOT / "scripts" / "lint_imports.py"


def _run(project_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), str(project_dir)], capture_output=True, text=True, timeout=120, check=False
    )


def _mini_project(tmp_path: Path, modules: dict[str, str]) -> Path:
    """A project with the repository's [tool.importlinter] table and the given module sources."""
    table = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {_toml(v)}" for k, v in table.items() if k != "contracts"]
    for contract in table["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{k} = {_toml(v)}" for k, v in contract.items()]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n")
    for package in ("b2brec", "trainer", "serving", "cli"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for relpath, source in modules.items():
        (tmp_path / relpath).write_text(source)
    return tmp_path


def _toml(value: object) -> str:
    return json.dumps(value)  # JSON strings and lists are valid TOML values


def test_the_repository_keeps_its_contracts() -> None:
    result = _run(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_clean_mini_project_passes_with_absent_packages_skipped(tmp_path: Path) -> None:
    sources = {"cli/app.py": "import trainer\nimport b2brec\n", "trainer/x.py": "import b2brec\n"}
    project = _mini_project(tmp_path, sources)
    result = _run(project)
    assert result.returncode == 0, result.stdout + result.stderr
    # client_app, control_plane, provisioning, stacks and modules are not in the mini project.
    assert "skipped as roots: client_app, control_plane, provisioning, stacks, modules" in result.stdout


@pytest.mark.parametrize(
    ("relpath", "source", "broken"),
    [
        ("b2brec/up.py", "import trainer\n", "b2brec.up -> trainer"),
        ("b2brec/up.py", "def f():\n    from cli import app\n", "b2brec.up -> cli"),
        ("trainer/up.py", "import cli\n", "trainer.up -> cli"),
        ("trainer/side.py", "import serving\n", "trainer.side -> serving"),
        ("b2brec/ui.py", "import rich\n", "b2brec.ui -> rich"),
        ("serving/ui.py", "from typer import Typer\n", "serving.ui -> typer"),
    ],
)
def test_a_violation_breaks_the_contract(tmp_path: Path, relpath: str, source: str, broken: str) -> None:
    result = _run(_mini_project(tmp_path, {relpath: source}))
    assert result.returncode != 0, result.stdout
    assert broken in result.stdout


BACKEND_CHECK = re.compile(
    r"Backend\.(LOCAL|GCP)|\.backend(\.value)?\s*(==|!=|\bis\b)|B2BREC_BACKEND\"\]"
    # the same question asked another way: which warehouse class is this, is there a local project
    r"|isinstance\([^)]*\b(BigQuery|DuckDB)Warehouse\b|\bproject\s+is\s+None\b"
)
CHOOSERS = {REPO_ROOT / "b2brec" / "settings.py"}  # declares the enum and its default


def test_the_backend_is_chosen_only_in_the_backends_package() -> None:
    """No ``if backend == ...`` outside b2brec/backends, nor its disguises (``isinstance(w, BigQueryWarehouse)``,
    ``if project is None`` for "on GCP"): callers ask the client's backends instead."""
    offenders = []
    for package in (
        "b2brec",
        "trainer",
        "serving",
        "stacks",
        "modules",
        "provisioning",
        "cli",
        "client_app",
        "control_plane",
    ):
        for path in (REPO_ROOT / package).rglob("*.py") if (REPO_ROOT / package).is_dir() else ():
            if path.is_relative_to(REPO_ROOT / "b2brec" / "backends") or path in CHOOSERS:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if BACKEND_CHECK.search(line):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not offenders, "backend checks outside b2brec/backends:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("line", "caught"),
    [
        ("if settings.backend is Backend.LOCAL:", True),
        ("    if isinstance(warehouse, BigQueryWarehouse):", True),
        ("if isinstance(w, (DuckDBWarehouse, Other)):", True),
        ("    if client.project is None:", True),
        ("if project is None:", True),
        ("if record is None:", False),
        ("warehouse = DuckDBWarehouse(path)", False),
    ],
)
def test_the_backend_check_catches_each_disguise(line: str, caught: bool) -> None:
    """The forms the dispatch took before it moved behind ClientBackends/Warehouse (trainer/extractor,
    serving/predictions, five client_app sites) are caught; ordinary None checks are not."""
    assert bool(BACKEND_CHECK.search(line)) is caught
