"""Template versions: a tagged release of the client stack and its images that a provisioner can
apply to a client (``Provisioner.apply_version``).

A version has a semantic version number, release notes, the stacks source it was published from
(``source``: a digest of the ``stacks/`` and ``modules/`` code, plus the git commit when there is
one), the digest of each image it runs, the runtime settings it gives each local service, and a
status: ``candidate`` (goes to a test client
first), ``released`` (may be rolled out) or ``retired``. Only the last ``KEEP_RELEASED`` released
versions stay deployable: releasing a newer one retires the oldest.

The registry is one JSON object (``versions.json``) in a store, changed by compare-and-swap.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib.util
import json
import re
import subprocess
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import semver

from b2brec.backends.storage import ObjectStore
from b2brec.backends.versioned import VersionConflict, versioned
from b2brec.errors import B2BRecError
from b2brec.settings import Settings
from provisioning import errors as _errors  # noqa: F401  (registers the codes used here)

KEEP_RELEASED = 3
REGISTRY_KEY = "versions.json"
SERVICES: tuple[str, ...] = ("serving", "mlflow", "client_app", "trainer", "etl", "control_plane")
_DIGEST = re.compile(r"^(?:[a-z0-9][a-z0-9./:_-]{0,254}@)?sha256:[0-9a-f]{64}$")
_ENV_NAME = re.compile(r"^B2BREC_[A-Z0-9_]{1,100}$")
_PLATFORM_OWNED = {"B2BREC_HOME", "B2BREC_BACKEND", "B2BREC_ENVIRONMENTS_DIR", "B2BREC_CLIENT_SPEC"}
_SECRET_WORDS = ("TOKEN", "KEY", "PASSWORD", "SECRET", "CREDENTIAL")
_RETRIES = 20


class TemplateError(B2BRecError):
    code = "template_error"


class SourceMismatch(TemplateError):
    code = "template_source_mismatch"


SOURCE_PACKAGES: tuple[str, ...] = ("stacks", "modules")
"""The code a version's stacks are synthesized from. Their ``*.py`` files only: ``stacks/platform.yaml``
is the platform's settings (which organisation, which state bucket), not part of a template."""


@dataclass(frozen=True, kw_only=True)
class StackSource:
    """Which stacks code a version was published from."""

    digest: str
    """``sha256:<hex>`` over the path and content of every ``*.py`` file of ``stacks/`` and ``modules/``
    (sorted, so the same code gives the same digest in a checkout, a wheel or a container image)."""
    commit: str | None = None
    """The git commit of the checkout at publish time, for people (None outside a git checkout)."""


def _package_dir(name: str) -> Path:
    found = importlib.util.find_spec(name)
    if found is None or not found.submodule_search_locations:
        raise TemplateError(f"the {name}/ package is not installed here; template sources need stacks/ and modules/")
    return Path(next(iter(found.submodule_search_locations)))


def source_digest(packages: dict[str, Path] | None = None) -> str:
    """The digest of the stacks code: ``packages`` maps a package name to its folder (default: the
    ``stacks`` and ``modules`` this process imports)."""
    folders = packages or {name: _package_dir(name) for name in SOURCE_PACKAGES}
    outer = hashlib.sha256()
    for name, folder in sorted(folders.items()):
        files = sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
        for path in files:
            rel = f"{name}/{path.relative_to(folder).as_posix()}"
            outer.update(f"{rel}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return "sha256:" + outer.hexdigest()


def _git_commit(folder: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def current_source() -> StackSource:
    """The stacks source of this checkout (or installed package): what publishing records and what a
    provisioner that synthesizes stacks compares a version with."""
    return StackSource(digest=source_digest(), commit=_git_commit(_package_dir(SOURCE_PACKAGES[0])))


class TemplateStatus(StrEnum):
    CANDIDATE = "candidate"
    RELEASED = "released"
    RETIRED = "retired"


@dataclass(frozen=True, kw_only=True)
class TemplateVersion:
    version: str
    notes: str = ""
    source: StackSource | None = None
    """The stacks code the version was published from; None for versions published before sources
    were recorded (a provisioner that synthesizes stacks refuses those)."""
    images: dict[str, str] = field(default_factory=dict)
    """Deployable -> image digest (``sha256:...`` or ``repo@sha256:...``)."""
    runtime: dict[str, dict[str, str]] = field(default_factory=dict)
    """Service -> ``B2BREC_*`` settings its processes run with (what a local project applies)."""
    status: TemplateStatus = TemplateStatus.CANDIDATE
    created_at: str = ""
    released_at: str | None = None

    @property
    def semver(self) -> semver.Version:
        return semver.Version.parse(self.version)

    def check_source(self, current: StackSource) -> None:
        """Refuse to synthesize this version from stacks code other than the code it was published
        from: the result would be labelled with this version but be another template."""
        if self.source is None:
            raise SourceMismatch(
                f"template version {self.version} records no stacks source (it was published before versions "
                "recorded one), so what it deploys is unknown",
                code="template_source_unknown",
            )
        if self.source.digest != current.digest:
            published = f" (commit {self.source.commit[:12]})" if self.source.commit else ""
            here = f" (commit {current.commit[:12]})" if current.commit else ""
            raise SourceMismatch(
                f"template version {self.version} was published from stacks {self.source.digest[:19]}…{published}, "
                f"but this checkout has stacks {current.digest[:19]}…{here}"
            )


def check_semver(version: str) -> str:
    """``version`` if it is a semantic version (``1.4.0``, ``2.0.0-rc.1``), else a TemplateError."""
    try:
        semver.Version.parse(version)
    except (ValueError, TypeError):
        raise TemplateError(
            f"template version {version[:80]!r} is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.4.0"
        ) from None
    return version


def _check_images(images: dict[str, str]) -> None:
    for name, digest in images.items():
        if name not in SERVICES:
            raise TemplateError(f"image {name[:40]!r} is not a deployable; use one of {', '.join(SERVICES)}")
        if not _DIGEST.match(digest):
            raise TemplateError(
                f"image {name}: {digest[:80]!r} is not a digest; pin images by digest (sha256:<64 hex>, "
                "as `docker buildx imagetools inspect` prints it), never by a tag"
            )


def _check_runtime(runtime: dict[str, dict[str, str]]) -> None:
    for service, env in runtime.items():
        if service not in SERVICES:
            raise TemplateError(f"runtime of {service[:40]!r}: not a service; use one of {', '.join(SERVICES)}")
        for name, value in env.items():
            if not _ENV_NAME.match(name):
                raise TemplateError(f"runtime setting {name[:80]!r} of {service}: only B2BREC_* settings are allowed")
            if name in _PLATFORM_OWNED:
                raise TemplateError(
                    f"runtime setting {name} of {service}: the provisioner sets it for each client; remove it"
                )
            if any(word in name for word in _SECRET_WORDS):
                raise TemplateError(
                    f"runtime setting {name} of {service}: secrets never go in a template (it is stored in plain "
                    "text and shared by every client); keep them in the client's secrets backend"
                )
            if len(value) > 1000 or "\n" in value or "\x00" in value:
                raise TemplateError(f"runtime setting {name} of {service}: one line of at most 1000 characters")


def _now() -> str:
    return datetime.now(UTC).isoformat()


_SOURCE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _from_json(raw: dict[str, Any]) -> TemplateVersion:
    source = raw.get("source")
    return TemplateVersion(
        **{
            **raw,
            "status": TemplateStatus(raw["status"]),
            "source": StackSource(**source) if source else None,
        }
    )


class TemplateRegistry:
    """The template versions known to the platform (the control plane's, or a local one)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._cas = versioned(store)

    def _load(self) -> tuple[dict[str, TemplateVersion], str | None]:
        found = self._cas.read(REGISTRY_KEY)
        if found is None:
            return {}, None
        raw = json.loads(found.data)
        versions = {v["version"]: _from_json(v) for v in raw["versions"]}
        return versions, found.generation

    def _change(self, change: Any) -> Any:
        for _ in range(_RETRIES):
            versions, generation = self._load()
            result = change(versions)
            ordered = sorted(versions.values(), key=lambda v: v.semver)
            data = json.dumps({"versions": [asdict(v) for v in ordered]}, indent=2, sort_keys=True).encode()
            try:
                self._cas.write(REGISTRY_KEY, data, if_generation=generation)
            except VersionConflict:
                continue
            return result
        raise TemplateError("too many concurrent changes to the template registry; retry")

    def list(self) -> list[TemplateVersion]:
        """Every version, oldest first (by semantic version)."""
        return sorted(self._load()[0].values(), key=lambda v: v.semver)

    def get(self, version: str) -> TemplateVersion:
        versions = self._load()[0]
        if version not in versions:
            known = ", ".join(sorted(versions, key=semver.Version.parse)[-6:]) or "none yet"
            raise TemplateError(
                f"no template version {version[:80]!r} (known: {known}); publish it with `b2brec template release`",
                code="template_not_found",
            )
        return versions[version]

    def add(
        self,
        version: str,
        *,
        notes: str = "",
        images: dict[str, str] | None = None,
        runtime: dict[str, dict[str, str]] | None = None,
        source: StackSource | None = None,
    ) -> TemplateVersion:
        """Publish a release candidate, recording the stacks ``source`` it is made of (default: this
        checkout's, ``current_source()``). Publishing the same version again with the same content
        (notes, images, runtime, source digest) is a no-op; with different content it is refused (a
        version is immutable)."""
        check_semver(version)
        source = source or current_source()
        if not _SOURCE_DIGEST.match(source.digest):
            raise TemplateError(f"stacks source {source.digest[:80]!r} is not a sha256:<64 hex> digest")
        images, runtime = dict(images or {}), {k: dict(v) for k, v in (runtime or {}).items()}
        _check_images(images)
        _check_runtime(runtime)
        if len(notes) > 10_000:
            raise TemplateError("release notes are longer than 10000 characters; link to a changelog instead")

        def change(versions: dict[str, TemplateVersion]) -> TemplateVersion:
            existing = versions.get(version)
            if existing is not None:
                digest = existing.source.digest if existing.source else None
                if (existing.notes, existing.images, existing.runtime, digest) != (
                    notes,
                    images,
                    runtime,
                    source.digest,
                ):
                    raise TemplateError(
                        f"template version {version} already exists with other content (notes, images, settings "
                        "or stacks source); versions are immutable, publish a new version number"
                    )
                return existing
            versions[version] = TemplateVersion(
                version=version, notes=notes, source=source, images=images, runtime=runtime, created_at=_now()
            )
            return versions[version]

        return self._change(change)

    def release(self, version: str) -> tuple[TemplateVersion, builtins.list[str]]:
        """Mark a candidate released; returns it and the versions retired to keep the last
        ``KEEP_RELEASED`` released ones."""

        def change(versions: dict[str, TemplateVersion]) -> tuple[TemplateVersion, builtins.list[str]]:
            current = versions.get(version) or self.get(version)
            if current.status is TemplateStatus.RETIRED:
                raise TemplateError(f"template version {version} is retired; publish a new version")
            released = replace(current, status=TemplateStatus.RELEASED, released_at=current.released_at or _now())
            versions[version] = released
            kept = sorted((v for v in versions.values() if v.status is TemplateStatus.RELEASED), key=lambda v: v.semver)
            retired = [v.version for v in kept[:-KEEP_RELEASED]]
            for name in retired:
                versions[name] = replace(versions[name], status=TemplateStatus.RETIRED)
            return released, retired

        result: tuple[TemplateVersion, builtins.list[str]] = self._change(change)
        return result

    def retire(self, version: str) -> TemplateVersion:
        def change(versions: dict[str, TemplateVersion]) -> TemplateVersion:
            current = versions.get(version) or self.get(version)
            versions[version] = replace(current, status=TemplateStatus.RETIRED)
            return versions[version]

        result: TemplateVersion = self._change(change)
        return result

    def deployable(self, version: str) -> TemplateVersion:
        """The version if it may be applied to a client: released and among the last
        ``KEEP_RELEASED``, or a candidate (for its test client). Retired versions are refused."""
        found = self.get(version)
        if found.status is TemplateStatus.RETIRED:
            kept = [v.version for v in self.list() if v.status is TemplateStatus.RELEASED]
            raise TemplateError(
                f"template version {version} is retired (only the last {KEEP_RELEASED} released versions are "
                f"deployable: {', '.join(kept) or 'none'}); pick one of those",
                code="template_retired",
            )
        return found


BASELINE_VERSION = "1.0.0"


def default_version(registry: TemplateRegistry) -> str:
    """The version new clients get: the newest released one. On a fresh platform with no version
    at all, a baseline ``1.0.0`` (this checkout's template, no runtime changes) is published first."""
    versions = registry.list()
    if not versions:
        registry.add(BASELINE_VERSION, notes="Baseline: the template of this checkout (published automatically).")
        registry.release(BASELINE_VERSION)
        versions = registry.list()
    released = [v for v in versions if v.status is TemplateStatus.RELEASED]
    if not released:
        raise TemplateError("no released template version; release one with `b2brec template release VERSION`")
    return released[-1].version


def registry_for(settings: Settings) -> TemplateRegistry:
    """The platform's template registry: ``B2BREC_HOME/templates/`` on the embedded default."""
    folder = settings.home / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    return TemplateRegistry(ObjectStore(folder.as_uri()))
