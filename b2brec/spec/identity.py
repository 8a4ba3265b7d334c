"""One client identity maps to one project: collisions are refused everywhere (create, lookup, synth).

A client environment is reachable by several names: its project id (derived from the display name and
env, unique and canonical), its ``client_id`` (shared by the client's dev/prod environments), the name
of its environment file and the ``{sanitized-name}-{env}`` alias. :func:`collision` says which overlaps
would hand one client's project or lookups to another; the error names both files, so the operator
knows which one to fix.
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
    def key(self) -> tuple[str, str, str]:
        return (self.spec.client_id, self.spec.env, self.spec.project_id)

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
    """Why ``new`` and ``other`` cannot both exist, or ``None`` when they can.

    One client may have several environments (dev, prod: one project each), so a shared client id is
    fine; lookups by it are refused as ambiguous. What is refused here is what would hand one client's
    project, or its lookups, to another:

    * one project id for two clients (same display name and env, different client ids);
    * a client id, environment name or alias equal to *another* project's id (lookups by project id
      win, so the impostor's own commands would act on the victim's project);
    * one client and env described twice (two files, or a renamed display name: two projects);
    * one environment name recorded for two projects.
    """
    a, b = new.spec, other.spec
    if new.key == other.key:
        if new.environment and other.environment and new.environment != other.environment:
            return f"{new.describe()} and {other.describe()} describe the same client in two files"
        return None
    if a.project_id == b.project_id:
        return f"{new.describe()} and {other.describe()} collide: both map to project {a.project_id!r}"
    captured = sorted((new.names & {b.project_id}) | (other.names & {a.project_id}))
    if captured:
        return (
            f"{new.describe()} and {other.describe()} collide: {captured[0]!r} is one's project id and a name "
            "of the other"
        )
    if (a.client_id, a.env) == (b.client_id, b.env):
        return f"{new.describe()} and {other.describe()} are the same client and env in two projects"
    if new.environment and new.environment == other.environment:
        return f"{new.describe()} and {other.describe()} share the environment name {new.environment!r}"
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
