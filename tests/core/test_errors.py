"""One error registry: every code the source raises is registered, with its HTTP status and fix."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from b2brec.errors import B2BRecError, ErrorCode, lookup, register, registered_codes
from b2brec.etl.errors import ERROR_CODES, EtlError
from tests.conftest import REPO_ROOT

PACKAGES = ("b2brec", "trainer", "serving", "stacks", "modules", "provisioning", "cli", "client_app", "control_plane")


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` constants (codes are often named, e.g. ``LOAD_FAILED``)."""
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def codes_in_source(path: Path) -> set[str]:
    """Codes given as ``code="x"`` / ``code=NAME`` in a call, or ``code = "x"`` in a class body."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = _string_constants(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "code":
                    value = keyword.value
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.add(value.value)
                    elif isinstance(value, ast.Name) and value.id in constants:
                        found.add(constants[value.id])
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                target = item.targets[0] if isinstance(item, ast.Assign) and len(item.targets) == 1 else None
                if isinstance(item, ast.AnnAssign):
                    target = item.target
                value = getattr(item, "value", None)
                if isinstance(target, ast.Name) and target.id == "code" and isinstance(value, ast.Constant):
                    if isinstance(value.value, str) and value.value:
                        found.add(value.value)
    return found


def _sources() -> list[Path]:
    return [p for package in PACKAGES if (REPO_ROOT / package).is_dir() for p in (REPO_ROOT / package).rglob("*.py")]


def test_every_code_in_the_source_is_registered() -> None:
    # Apps may register their own codes at import: import every module that calls register().
    for path in _sources():
        if "register(" in path.read_text(encoding="utf-8") and path != REPO_ROOT / "b2brec" / "errors.py":
            module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
            importlib.import_module(module.removesuffix(".__init__"))
    registered = registered_codes()
    used = {code: path for path in _sources() for code in codes_in_source(path)}
    assert len(used) >= 20, "the walker found too few codes: is it still reading the source?"
    missing = {code: str(path.relative_to(REPO_ROOT)) for code, path in used.items() if code not in registered}
    assert not missing, f"codes raised but not registered in b2brec/errors.py: {missing}"
    assert set(ERROR_CODES) <= set(registered)


def test_the_walker_sees_each_way_a_code_is_written(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'NAMED = "named_code"\n'
        "class E(B2BRecError):\n"
        '    code = "class_code"\n'
        'raise B2BRecError("x", code="literal_code")\n'
        "raise EtlError('y', code=NAMED)\n"
    )
    assert codes_in_source(sample) == {"class_code", "literal_code", "named_code"}


def test_an_error_carries_status_title_and_fix_from_the_registry() -> None:
    err = B2BRecError("no model yet", code="no_model")
    assert (err.http_status, err.entry.title) == (404, "no trained model")
    assert err.fix is not None and "pipeline run" in err.fix
    own = EtlError("password wrong", code="bad_credentials", fix="store the new password")
    assert own.fix == "store the new password" and own.message == "password wrong Fix: store the new password"
    assert own.http_status == 422


def test_a_code_is_required_and_registered_once() -> None:
    with pytest.raises(TypeError, match="needs a registered code"):
        B2BRecError("no code")
    assert register("no_model", 404, "no trained model", lookup("no_model").fix) == lookup("no_model")  # same: ok
    with pytest.raises(ValueError, match="already registered"):
        register("no_model", 500, "something else")
    with pytest.raises(ValueError, match="4xx/5xx"):
        register("test_bad_status", 200, "not an error")
    assert lookup("never_registered") == ErrorCode("never_registered", 500, "unregistered error")


@pytest.mark.parametrize("code", sorted(registered_codes()))
def test_every_registered_code_says_what_it_is(code: str) -> None:
    entry = registered_codes()[code]
    assert 400 <= entry.http_status <= 599 and entry.title
