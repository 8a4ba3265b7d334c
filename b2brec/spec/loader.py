"""Load ClientSpec YAML files with errors that name the file, field, value found and what is allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from b2brec.errors import B2BRecError
from b2brec.spec.clientspec import ClientSpec


class SpecError(B2BRecError):
    """A ClientSpec file is missing, unreadable or invalid."""

    code = "invalid_spec"


def _format_loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


NOT_ECHOED = frozenset({"host"})
"""Fields whose value is never repeated in an error: a password pasted into the host field must not
come back in a message, a log or the control plane's wizard."""


def _describe(error: ErrorDetails) -> str:
    field = _format_loc(tuple(error["loc"]))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"field '{field}': required but missing"
    if error["type"] == "extra_forbidden":
        return f"field '{field}': not a known field (remove it or check its spelling)"
    found = error.get("input")
    loc = error["loc"]
    if loc and loc[-1] in NOT_ECHOED:
        return f"field '{field}': {message}"
    shown = repr(found) if not isinstance(found, dict) else "a mapping"
    return f"field '{field}': {message} (found {shown})"


def parse_spec(data: Any, *, origin: str) -> ClientSpec:
    """Validate already-parsed YAML data; ``origin`` names where it came from in errors."""
    if not isinstance(data, dict):
        raise SpecError(f"{origin}: expected a mapping of fields at the top level, found {type(data).__name__}")
    try:
        return ClientSpec.model_validate(data)
    except ValidationError as exc:
        problems = "\n  - ".join(_describe(e) for e in exc.errors())
        raise SpecError(f"{origin}: invalid client spec:\n  - {problems}") from None


def load_spec(path: Path) -> ClientSpec:
    """Read and validate one ``environments/*.yaml`` file."""
    if not path.is_file():
        raise SpecError(f"{path}: no such file; create it or pass --env with one of the files in {path.parent}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_spec(data, origin=str(path))


def environment_path(environments_dir: Path, name: str) -> Path:
    return environments_dir / f"{name}.yaml"


def list_environments(environments_dir: Path) -> list[str]:
    return sorted(p.stem for p in environments_dir.glob("*.yaml"))


def load_environment(environments_dir: Path, name: str) -> ClientSpec:
    """Load ``{environments_dir}/{name}.yaml``; unknown names list the ones that exist."""
    path = environment_path(environments_dir, name)
    if not path.is_file():
        known = ", ".join(list_environments(environments_dir)) or "none"
        raise SpecError(f"environment {name!r} not found in {environments_dir} (known: {known})")
    return load_spec(path)


SPEC_ENV = "B2BREC_CLIENT_SPEC"
"""The variable a deployable on GCP reads its ClientSpec from (``Settings.client_spec``)."""


def spec_from_json(text: str | None, *, origin: str = f"${SPEC_ENV}") -> ClientSpec:
    """The ClientSpec given as JSON (what the client stack puts in ``$B2BREC_CLIENT_SPEC``)."""
    if not text or not text.strip():
        raise SpecError(
            f"{origin} is not set: a deployable on GCP reads its client's spec from it; "
            "the client stack sets it (see `b2brec synth`), or export it as the environment's spec in JSON"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"{origin} is not valid JSON ({exc.msg} at position {exc.pos}); set it to the spec as JSON"
        ) from None
    return parse_spec(data, origin=origin)


class ClientNotFound(B2BRecError):
    code = "client_not_found"


class ClientAmbiguous(B2BRecError):
    code = "client_ambiguous"


def find_environment(environments_dir: Path, name: str) -> ClientSpec:
    """The one environment called ``name``: its file name (``demo-dev``) or, failing that, the project id
    or client id of exactly one environment file. Exact match only; never the first of several."""
    if environment_path(environments_dir, name).is_file():
        return load_environment(environments_dir, name)
    matches: dict[str, ClientSpec] = {}
    for env_name in list_environments(environments_dir):
        spec = load_environment(environments_dir, env_name)
        if name in {spec.project_id, spec.client_id}:
            matches[env_name] = spec
    if len(matches) == 1:
        return next(iter(matches.values()))
    if matches:
        raise ClientAmbiguous(
            f"{name!r} names {len(matches)} environments ({', '.join(matches)}); use the environment name"
        )
    known = ", ".join(list_environments(environments_dir)) or "none"
    raise ClientNotFound(f"no environment or project {name!r} in {environments_dir} (known: {known})")
