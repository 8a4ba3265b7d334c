"""Run the import-linter contracts of pyproject.toml over the packages that exist.

import-linter refuses a root package it cannot find, and some layers (client_app, control_plane,
provisioning) are being built in parallel. This runner keeps the contracts in one place
(`[tool.importlinter]` in pyproject.toml), drops the root packages that are not on disk yet, and runs
`lint-imports` on the result, so a new package is checked the moment its folder appears.

Usage: python scripts/lint_imports.py [PROJECT_DIR]   (exit code is lint-imports' own)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path


def effective_config(project_dir: Path) -> tuple[dict, list[str]]:
    """The `[tool.importlinter]` table with absent root packages removed, and the names removed."""
    pyproject = tomllib.loads((project_dir / "pyproject.toml").read_text())
    config = pyproject["tool"]["importlinter"]
    present = [name for name in config["root_packages"] if (project_dir / name / "__init__.py").is_file()]
    missing = [name for name in config["root_packages"] if name not in present]
    pruned = dict(config, root_packages=present)
    pruned["contracts"] = [_prune_contract(contract, set(missing)) for contract in config.get("contracts", [])]
    return pruned, missing


def _prune_contract(contract: dict, missing: set[str]) -> dict:
    """Drop absent packages from a forbidden contract's sources (layers mark them optional themselves)."""
    if "source_modules" not in contract:
        return contract
    sources = [m for m in contract["source_modules"] if m.split(".")[0] not in missing]
    return dict(contract, source_modules=sources)


def _to_toml(config: dict) -> str:
    """Serialise the (flat) importlinter table; JSON strings and lists are valid TOML values."""
    lines = ["[tool.importlinter]"]
    for key, value in config.items():
        if key != "contracts":
            lines.append(f"{key} = {json.dumps(value)}")
    for contract in config.get("contracts", []):
        lines.append("[[tool.importlinter.contracts]]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in contract.items())
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    project_dir = Path(argv[0] if argv else ".").resolve()
    config, missing = effective_config(project_dir)
    if missing:
        print(f"lint-imports: not present yet, skipped as roots: {', '.join(missing)}")
    lint_imports = Path(sys.executable).with_name("lint-imports")
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "importlinter.toml"
        config_path.write_text(_to_toml(config))
        path = [str(project_dir), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p))
        return subprocess.run(
            [str(lint_imports), "--config", str(config_path), "--no-cache"], cwd=project_dir, env=env, check=False
        ).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
