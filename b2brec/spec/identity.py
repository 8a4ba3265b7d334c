"""One client identity maps to one project: collisions are refused everywhere (create, lookup, synth).

A client is reachable by several names: its ``client_id``, its project id (derived from the display
name and env), the name of its environment file and the ``{sanitized-name}-{env}`` alias. Two specs
collide when any of those names is shared while they are not the same client (same client_id *and*
same project id), or when one client is described by two environment files. The error names both
files, so the operator knows which one to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from b2brec.errors import B2BRecError
from b2brec.spec.clientspec import ClientSpec


class IdentityCollision(B2BRecError):
    """Two specs would share one project (or one lookup name)."""

    code = "identity_collision"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="identity_collision")
        self.fix = (
            "give each client its own client_id and display name (the project id is derived from the name and "
            "env), and describe each client in exactly one environment file."
        )


@dataclass(frozen=True)
class Identity:
    """A spec and where it came from (an environment file, or a project's ``project.json``)."""

    spec: ClientSpec
    origin: str
    environment: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.spec.client_id, self.spec.project_id)

    @property
    def names(self) -> frozenset[str]:
        spec = self.spec
        names = {spec.client_id, spec.project_id, f"{spec.sanitized_name}-{spec.env}"}
        if self.environment:
            names.add(self.environment)
        return frozenset(names)

    def describe(self) -> str:
        return f"{self.origin} (client_id {self.spec.client_id!r}, project {self.spec.project_id!r})"


def collision(new: Identity, other: Identity) -> str | None:
    """Why ``new`` and ``other`` cannot both exist, or ``None`` when they can."""
    shared = sorted(new.names & other.names)
    if new.key == other.key:
        if new.environment and other.environment and new.environment != other.environment:
            return f"{new.describe()} and {other.describe()} describe the same client in two files"
        return None
    if shared:
        what = "project" if new.spec.project_id == other.spec.project_id else "name"
        return f"{new.describe()} and {other.describe()} collide: they share the {what} {', '.join(map(repr, shared))}"
    return None


def check_unique(identities: Iterable[Identity]) -> None:
    """Raise :class:`IdentityCollision` for the first pair of colliding identities."""
    seen: list[Identity] = []
    for identity in identities:
        for other in seen:
            problem = collision(identity, other)
            if problem is not None:
                raise IdentityCollision(problem)
        seen.append(identity)


def check_environments(environments_dir: Path) -> None:
    """Refuse environment files that collide (synth and provisioning check this before any stack).

    Files that do not load are skipped here: they fail with their own error when used."""
    from b2brec.spec.loader import SpecError, environment_path, list_environments, load_environment

    identities = []
    for name in list_environments(environments_dir):
        try:
            spec = load_environment(environments_dir, name)
        except SpecError:
            continue
        identities.append(Identity(spec, str(environment_path(environments_dir, name)), name))
    check_unique(identities)
