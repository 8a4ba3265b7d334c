"""The project modules an image's processes can reach, following imports at any depth.

Imports inside functions count (a lazy ``from serving.recommend import recommend`` runs the day that
function does, on Cloud Run); imports under ``if TYPE_CHECKING:`` do not. Only the project's own packages
are followed: third-party imports are checked by importing the reached modules in the image's environment.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.images.harness import REPO_ROOT

PROJECT_PACKAGES = frozenset(
    {"b2brec", "trainer", "serving", "client_app", "control_plane", "stacks", "modules", "cli", "provisioning"}
)


def module_file(module: str, root: Path = REPO_ROOT) -> Path | None:
    path = root.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(module: str, root: Path = REPO_ROOT) -> set[str]:
    """Project modules ``module`` imports anywhere in its body (and the packages above them)."""
    file = module_file(module, root)
    assert file is not None, module
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    named: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            named.add(base)
            named.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(file.read_text(), str(file)))
    found: set[str] = set()
    for name in named:
        if name.split(".")[0] not in PROJECT_PACKAGES or module_file(name, root) is None:
            continue
        parts = name.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if module_file(".".join(parts[:i]), root))
    return found


def reachable(roots: list[str], root: Path = REPO_ROOT) -> set[str]:
    """Every project module reachable from ``roots``."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(imported_modules(module, root) - seen)
    return seen
