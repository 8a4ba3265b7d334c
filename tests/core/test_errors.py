"""One error registry: every code the source raises is registered, with its HTTP status and fix."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from b2brec.errors import STRICT_ENV, B2BRecError, ErrorCode, UnregisteredCode, lookup, register, registered_codes
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


def _class_facts(trees: dict[Path, ast.Module]) -> dict[str, tuple[list[str], bool, str | None]]:
    """Every class in the source: (base names, has a class-level ``code = "x"``, how its ``__init__``
    takes ``code``: ``"defaulted"``, ``"required"``, ``"fixed"`` (passes a literal up) or None)."""
    facts: dict[str, tuple[list[str], bool, str | None]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
            has_code, init = False, None
            for item in node.body:
                target = item.targets[0] if isinstance(item, ast.Assign) and len(item.targets) == 1 else None
                if isinstance(item, ast.AnnAssign):
                    target = item.target
                value = getattr(item, "value", None)
                if isinstance(target, ast.Name) and target.id == "code" and isinstance(value, ast.Constant):
                    has_code = bool(value.value)
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    args = item.args
                    params = dict(zip([a.arg for a in args.kwonlyargs], args.kw_defaults, strict=True))
                    if "code" not in params:
                        init = "fixed"
                    else:
                        default = params["code"]
                        usable = isinstance(default, ast.Constant) and isinstance(default.value, str) and default.value
                        init = "defaulted" if usable else "required"
            facts[node.name] = (bases, has_code, init)
    return facts


def raises_without_code(trees: dict[Path, ast.Module]) -> list[str]:
    """Each construction of a ``B2BRecError`` (or subclass) that would end in a TypeError at run time:
    no ``code=`` given and none provided by the class (a class-level code, a defaulted or fixed one in
    ``__init__``, inherited included); and each subclass that provides no way to get a code at all."""
    facts = _class_facts(trees)

    def lineage(name: str) -> list[str]:
        chain: list[str] = []
        while name in facts and name not in chain:
            chain.append(name)
            name = next((b for b in facts[name][0] if b in facts or b == "B2BRecError"), "")
        return chain + ([name] if name == "B2BRecError" else [])

    errors = {name for name in facts if "B2BRecError" in lineage(name)} | {"B2BRecError"}

    def provides(name: str) -> str | None:
        """``"yes"`` when a call needs no code=, ``"required"`` when its __init__ demands one, else None."""
        for cls in lineage(name):
            if cls == "B2BRecError":
                return None
            _, has_code, init = facts[cls]
            if init == "required":
                return "required"
            if has_code or init in {"defaulted", "fixed"}:
                return "yes"
        return None

    problems = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in errors and node.name != "B2BRecError":
                if provides(node.name) is None:
                    problems.append(f"{path}:{node.lineno}: class {node.name} has no code and takes none")
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name not in errors or any(k.arg in {"code", None} for k in node.keywords):
                continue  # a code= (or **kwargs) is passed
            if name == "B2BRecError" or provides(name) != "yes":
                problems.append(f"{path}:{node.lineno}: {name}(...) without code=")
    return problems


def test_every_error_raised_gets_a_code() -> None:
    trees = {p.relative_to(REPO_ROOT): ast.parse(p.read_text(encoding="utf-8")) for p in _sources()}
    problems = raises_without_code(trees)
    assert not problems, "errors that would raise TypeError (no code):\n" + "\n".join(problems)


def test_the_code_check_sees_each_way_a_code_goes_missing() -> None:
    sample = ast.parse(
        "class Coded(B2BRecError):\n"
        '    code = "coded"\n'
        "class Child(Coded): pass\n"
        "class Needs(B2BRecError):\n"
        "    def __init__(self, message, *, code): super().__init__(message, code=code)\n"
        "class Defaulted(B2BRecError):\n"
        '    def __init__(self, message, *, code="invalid_input"): super().__init__(message, code=code)\n'
        "class Bare(B2BRecError): pass\n"
        'raise B2BRecError("bare")\n'
        'raise B2BRecError("ok", code="x")\n'
        'raise Child("ok")\n'
        'raise Defaulted("ok")\n'
        'raise Needs("missing")\n'
        'raise errors.B2BRecError("qualified")\n'
        'raise Bare("bare subclass")\n'
    )
    found = raises_without_code({Path("sample.py"): sample})
    assert [p.split(": ", 1)[1] for p in found] == [
        "class Bare has no code and takes none",
        "B2BRecError(...) without code=",
        "Needs(...) without code=",
        "B2BRecError(...) without code=",
        "Bare(...) without code=",
    ]


def test_a_bad_port_is_an_invalid_setting() -> None:
    from serving.__main__ import port_from_env

    assert port_from_env({"PORT": "8081"}) == 8081
    for bad in ("x", "0", "70000"):
        with pytest.raises(B2BRecError) as failure:
            port_from_env({"PORT": bad})
        assert failure.value.code == "invalid_settings" and "$PORT" in failure.value.message


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


def test_an_unregistered_code_fails_loudly_under_the_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    # the suite runs with the strict flag (tests/conftest.py): a typo in a code fails where it is raised
    with pytest.raises(UnregisteredCode, match="never_registered"):
        lookup("never_registered")
    with pytest.raises(UnregisteredCode, match="never_registered"):
        B2BRecError("typo", code="never_registered")
    monkeypatch.delenv(STRICT_ENV)  # in production it is answered as an internal error
    assert lookup("never_registered") == ErrorCode("never_registered", 500, "unregistered error")
    assert B2BRecError("typo", code="never_registered").http_status == 500


@pytest.mark.parametrize("code", sorted(registered_codes()))
def test_every_registered_code_says_what_it_is(code: str) -> None:
    entry = registered_codes()[code]
    assert 400 <= entry.http_status <= 599 and entry.title
