"""Template version registry: semantic versions, release notes, image digests, status.

A version starts as a *candidate* on one test client; promoting it *releases* it; only the
last ``kept_versions`` released versions stay deployable, older ones are *retired*."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from control_plane.audit import services as audit
from control_plane.errors import ControlPlaneError
from control_plane.extensions import db
from control_plane.templates.models import TemplateVersion, VersionStatus
from control_plane.timeutil import utcnow

SEMVER = re.compile(r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})(-[0-9A-Za-z.-]{1,30})?$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def semver_key(version: str) -> tuple[int, int, int, int, str]:
    match = SEMVER.match(version)
    if not match:
        return (-1, -1, -1, -1, version)
    major, minor, patch, pre = match.groups()
    # a pre-release sorts before its release
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


def _check(version: str, notes: str, digests: dict[str, str]) -> None:
    if not SEMVER.match(version):
        raise ControlPlaneError(
            "the version is not a semantic version", code="invalid_input", fix="use MAJOR.MINOR.PATCH such as 1.4.0"
        )
    if len(notes) > 10_000:
        raise ControlPlaneError("the release notes are too long", code="invalid_input", fix="keep them under 10k")
    for service, digest in digests.items():
        if not SERVICE.match(service) or not DIGEST.match(digest):
            raise ControlPlaneError(
                "an image digest is not valid",
                code="invalid_input",
                fix="give each image as service=sha256:<64 hex digits>, e.g. serving=sha256:ab12…",
            )


def get_version(version: str) -> TemplateVersion:
    row = db.session.scalar(sa.select(TemplateVersion).where(TemplateVersion.version == version))
    if row is None:
        raise ControlPlaneError(f"no template version {version[:40]!r}", code="not_found", fix="release it first")
    return row


def list_versions() -> list[TemplateVersion]:
    rows = list(db.session.scalars(sa.select(TemplateVersion)))
    return sorted(rows, key=lambda r: semver_key(r.version), reverse=True)


def add_candidate(
    version: str, *, notes: str, digests: dict[str, str], test_client: str | None, actor: str | None = None
) -> TemplateVersion:
    _check(version, notes, digests)
    if db.session.scalar(sa.select(TemplateVersion.id).where(TemplateVersion.version == version)):
        raise ControlPlaneError(f"version {version} exists", code="conflict", fix="bump the version number")
    row = TemplateVersion(version=version, notes=notes, digests=digests, test_client=test_client)
    db.session.add(row)
    audit.record("template.candidate", "template", version, after=row.to_dict(), actor=actor)
    db.session.commit()
    return row


def release(version: str, *, actor: str | None = None) -> TemplateVersion:
    """Mark a candidate released, then retire released versions beyond the kept window."""
    from flask import current_app

    row = get_version(version)
    if row.status == VersionStatus.RETIRED.value:
        raise ControlPlaneError(f"{version} is retired", code="version_not_deployable", fix="release a new version")
    before = row.to_dict()
    row.status, row.released_at = VersionStatus.RELEASED.value, utcnow()
    audit.record("template.release", "template", version, before=before, after=row.to_dict(), actor=actor)
    keep = current_app.extensions["b2brec_control_plane"].settings.kept_versions
    prune(keep, actor=actor)
    db.session.commit()
    return row


def prune(keep: int, *, actor: str | None = None) -> list[str]:
    released = [r for r in list_versions() if r.status == VersionStatus.RELEASED.value]
    retired = []
    for row in released[keep:]:
        row.status = VersionStatus.RETIRED.value
        audit.record("template.retire", "template", row.version, after={"status": "retired"}, actor=actor)
        retired.append(row.version)
    return retired


def deployable(keep: int) -> list[str]:
    """The released versions a client may run or roll back to (newest first)."""
    return [r.version for r in list_versions() if r.status == VersionStatus.RELEASED.value][:keep]


def check_deployable(version: str, keep: int, *, client_id: str | None = None) -> TemplateVersion:
    row = get_version(version)
    if row.status == VersionStatus.CANDIDATE.value and client_id is not None and row.test_client == client_id:
        return row
    if version not in deployable(keep):
        raise ControlPlaneError(
            f"{version} is not deployable ({row.status})",
            code="version_not_deployable",
            fix=f"use one of the last {keep} released versions: {', '.join(deployable(keep)) or 'none yet'}",
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


def summary(row: TemplateVersion) -> dict[str, Any]:
    return row.to_dict()
