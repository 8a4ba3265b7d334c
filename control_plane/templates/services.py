"""Template versions, through the platform's one registry (``provisioning.templates``): the
control plane adds auditing and the rule of which versions a rollout or a client may use.

A version starts as a *candidate* (deployable to one client at a time, e.g. its test client,
through the one-click move); *released* versions can be rolled out; only the last three released
stay deployable, older ones are *retired* by the registry and refused."""

from __future__ import annotations

import re
from typing import Any

from control_plane.audit import services as audit
from control_plane.errors import ControlPlaneError
from control_plane.extensions import db
from control_plane.runtime import runtime
from provisioning.templates import KEEP_RELEASED, TemplateStatus, TemplateVersion


def list_versions() -> list[TemplateVersion]:
    """Every version, newest first."""
    return list(reversed(runtime().templates.list()))


def get_version(version: str) -> TemplateVersion:
    return runtime().templates.get(version)


def to_dict(row: TemplateVersion) -> dict[str, Any]:
    return {
        "version": row.version,
        "notes": row.notes,
        "source": {"digest": row.source.digest, "commit": row.source.commit} if row.source else None,
        "images": dict(row.images),
        "runtime": {k: dict(v) for k, v in row.runtime.items()},
        "status": row.status.value,
        "released_at": row.released_at,
    }


def add_candidate(
    version: str,
    *,
    notes: str,
    images: dict[str, str],
    runtime_settings: dict[str, dict[str, str]] | None = None,
    actor: str | None = None,
) -> TemplateVersion:
    row = runtime().templates.add(version, notes=notes, images=images, runtime=runtime_settings)
    audit.record("template.candidate", "template", version, after=to_dict(row), actor=actor)
    db.session.commit()
    return row


def release(version: str, *, actor: str | None = None) -> TemplateVersion:
    before = to_dict(get_version(version))
    row, retired = runtime().templates.release(version)
    audit.record("template.release", "template", version, before=before, after=to_dict(row), actor=actor)
    for name in retired:
        audit.record("template.retire", "template", name, after={"status": "retired"}, actor=actor)
    db.session.commit()
    return row


def deployable(keep: int = KEEP_RELEASED) -> list[str]:
    """The released versions a client may run or roll back to (newest first)."""
    return [r.version for r in list_versions() if r.status is TemplateStatus.RELEASED][:keep]


def check_deployable(version: str, keep: int = KEEP_RELEASED, *, single_client: bool = False) -> TemplateVersion:
    """A released, kept version; a candidate only for a single client (never for a rollout)."""
    row = runtime().templates.deployable(version)  # unknown or retired: the registry's own error
    if row.status is TemplateStatus.CANDIDATE and not single_client:
        raise ControlPlaneError(
            f"{version} is a release candidate",
            code="version_not_deployable",
            fix="move its test client to it from the client page, then release it before a rollout",
        )
    if row.status is TemplateStatus.RELEASED and version not in deployable(keep):
        raise ControlPlaneError(
            f"{version} is not among the last {keep} released versions",
            code="version_not_deployable",
            fix=f"use one of {', '.join(deployable(keep))}",
        )
    return row


def parse_digests(text: str) -> dict[str, str]:
    """``service=sha256:…`` pairs, one per line or comma-separated."""
    digests: dict[str, str] = {}
    for part in re.split(r"[\n,]+", text or ""):
        part = part.strip()
        if not part:
            continue
        service, sep, digest = part.partition("=")
        if not sep:
            raise ControlPlaneError(
                "an image digest line has no '='", code="invalid_input", fix="write service=sha256:<64 hex digits>"
            )
        digests[service.strip()] = digest.strip()
    return digests
