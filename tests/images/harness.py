"""Run an image's entrypoint here, with only what its Dockerfile installs (no Docker engine exists
on our machines; the images themselves are built on Cloud Build).

For each Dockerfile the harness reads ``COPY`` (the project packages the image holds), the
``pip install`` line (``".[serving]"``: the core plus that extra of pyproject.toml), ``ENV``,
``ENTRYPOINT`` and ``CMD``. It then builds a virtualenv holding exactly the distributions that
requirement set resolves to, linked file by file from the project's installed (pinned,
constraints.txt) environment: the same wheels ``pip install`` would put in the image, without
downloading them again. Anything the image does not install cannot be imported from it, so an
entrypoint that imports ``stacks`` or ``tensorflow`` from the serving image fails here as it would
on Cloud Run. Environments are cached under ``.b2brec/image-envs/`` by a hash of what they hold.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = REPO_ROOT / "images"
CACHE_DIR = REPO_ROOT / ".b2brec" / "image-envs"
PROJECT = "b2brec"
GPU_ONLY_EXTRAS: dict[str, frozenset[str]] = {"tensorflow": frozenset({"and-cuda"})}
"""Extras that add only GPU runtime libraries (``tensorflow[and-cuda]``: the nvidia-* CUDA and cuDNN wheels, loaded
by TensorFlow only when it finds a GPU). No machine here has a GPU or those wheels, so the environment of an image
that installs them (trainer-gpu) is built without them: its entrypoints run as they would on a CPU. What the image
requests is checked in tests/images/test_contract.py."""


@dataclass(frozen=True)
class Dockerfile:
    """What one Dockerfile installs and runs."""

    path: Path
    copies: dict[str, str]
    """Destination (as given) -> source path in the repository."""
    requirements: tuple[str, ...]
    """Arguments of ``pip install`` that name what to install (``.[serving]``, ``pkg==1.0``)."""
    env: dict[str, str]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(".Dockerfile")

    @property
    def project_packages(self) -> tuple[str, ...]:
        """Top-level project packages the image copies in (and ``pip install .`` installs)."""
        return tuple(sorted(src for src in self.copies.values() if (REPO_ROOT / src / "__init__.py").is_file()))

    @property
    def extras(self) -> tuple[str, ...]:
        found: list[str] = []
        for req in self.requirements:
            match = re.fullmatch(r"\.(?:\[([a-z0-9_,-]+)\])?", req)
            if match and match.group(1):
                found.extend(match.group(1).split(","))
        return tuple(found)

    @property
    def command(self) -> tuple[str, ...]:
        return self.entrypoint + self.cmd


def _json_list(text: str, where: str) -> tuple[str, ...]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(f"{where}: use the exec (JSON list) form") from None
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{where}: not a list of strings"
    return tuple(value)


def parse_dockerfile(path: Path) -> Dockerfile:
    copies: dict[str, str] = {}
    requirements: list[str] = []
    env: dict[str, str] = {}
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir = "/"
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction == "WORKDIR":
            workdir = rest.strip()
        elif instruction == "COPY":
            if "--from=" in rest:
                continue  # a file from another image (a binary), not from this repository
            *sources, dest = shlex.split(rest)
            for source in sources:
                if dest.endswith("/"):
                    target = f"{dest}{Path(source).name}"
                elif dest.startswith("./"):
                    target = f"{workdir}/{dest[2:]}"
                else:
                    target = dest
                copies[target] = source
        elif instruction == "RUN" and "pip install" in rest:
            words = shlex.split(rest.split("pip install", 1)[1])
            skip_next = False
            for word in words:
                if skip_next:
                    skip_next = False
                elif word in {"-c", "--constraint", "-r"}:
                    skip_next = True
                elif not word.startswith("-"):
                    requirements.append(word)
        elif instruction == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
        elif instruction == "ENTRYPOINT":
            entrypoint = _json_list(rest, f"{path.name} ENTRYPOINT")
        elif instruction == "CMD":
            cmd = _json_list(rest, f"{path.name} CMD")
    return Dockerfile(path, copies, tuple(requirements), env, entrypoint, cmd)


def dockerfiles() -> dict[str, Dockerfile]:
    return {p.name.removesuffix(".Dockerfile"): parse_dockerfile(p) for p in sorted(IMAGES_DIR.glob("*.Dockerfile"))}


# --- requirement closure -------------------------------------------------------------------------


def _project_table() -> dict[str, list[str]]:
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    project = data["project"]
    return {"": project["dependencies"], **project.get("optional-dependencies", {})}


def _top_requirements(dockerfile: Dockerfile) -> list[Requirement]:
    table = _project_table()
    result: list[Requirement] = []
    pending = [""] + list(dockerfile.extras) if any(r.startswith(".") for r in dockerfile.requirements) else []
    seen: set[str] = set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in table:
            raise AssertionError(f"{dockerfile.path.name}: extra [{extra}] is not in pyproject.toml")
        for text in table[extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == PROJECT:
                pending.extend(req.extras)
            else:
                result.append(req)
    result.extend(Requirement(r) for r in dockerfile.requirements if not r.startswith("."))
    return result


def resolve(dockerfile: Dockerfile) -> dict[str, metadata.Distribution]:
    """Every installed distribution the image's ``pip install`` pulls in (markers evaluated)."""
    found: dict[str, metadata.Distribution] = {}
    pending: list[tuple[Requirement, frozenset[str]]] = [
        (r, frozenset(r.extras) - GPU_ONLY_EXTRAS.get(canonicalize_name(r.name), frozenset()))
        for r in _top_requirements(dockerfile)
    ]
    done: set[tuple[str, frozenset[str]]] = set()
    while pending:
        req, extras = pending.pop()
        name = canonicalize_name(req.name)
        if (name, extras) in done:
            continue
        done.add((name, extras))
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{dockerfile.path.name}: {req} is not installed; run `make install`") from None
        assert req.specifier.contains(dist.version, prereleases=True), (
            f"{dockerfile.path.name}: {req} but {dist.version} is installed; pin them alike (constraints.txt)"
        )
        found[name] = dist
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is not None and not _marker_holds(sub.marker, extras):
                continue
            pending.append((sub, frozenset(sub.extras)))
    return found


def _marker_holds(marker: Marker, extras: frozenset[str]) -> bool:
    if "extra" not in str(marker):
        return marker.evaluate({"extra": ""})
    return any(marker.evaluate({"extra": extra}) for extra in extras)


# --- the image's environment ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImageEnv:
    """A virtualenv holding what one image installs, and the image's /app folder."""

    dockerfile: Dockerfile
    root: Path
    distributions: tuple[str, ...] = field(default=())

    @property
    def bin(self) -> Path:
        return self.root / "venv" / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def app(self) -> Path:
        return self.root / "app"

    def command(self, command: tuple[str, ...] | None = None) -> list[str]:
        """The Dockerfile's command (or ``command``) mapped onto this environment."""
        words = list(command if command is not None else self.dockerfile.command)
        assert words, f"{self.dockerfile.path.name} has no ENTRYPOINT"
        if words[0] == "python":
            words[0] = str(self.python)
        elif words[0] in self.dockerfile.copies:
            words[0] = str(REPO_ROOT / self.dockerfile.copies[words[0]])
        return words

    def environ(self, extra: dict[str, str], home: Path) -> dict[str, str]:
        """A clean environment (nothing leaks from the test process): the Dockerfile's ENV, then ``extra``."""
        base = {"PATH": f"{self.bin}{os.pathsep}/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
        return {**base, **self.dockerfile.env, **extra}


def _site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _fingerprint(dockerfile: Dockerfile, dists: dict[str, metadata.Distribution]) -> str:
    digest = hashlib.sha256(dockerfile.path.read_bytes())
    digest.update((REPO_ROOT / "pyproject.toml").read_bytes())
    for name in sorted(dists):
        digest.update(f"{name}=={dists[name].version}\n".encode())
    digest.update(sys.executable.encode())
    return digest.hexdigest()[:16]


def _link_distribution(dist: metadata.Distribution, site: Path, bin_dir: Path) -> None:
    for file in dist.files or []:
        parts = Path(str(file)).parts
        if not parts or parts[0] == ".." or "__pycache__" in parts:
            continue
        source = Path(str(dist.locate_file(file)))
        if not source.exists():
            continue
        target = site.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() and not target.is_symlink():
            target.symlink_to(source)
    for entry in dist.entry_points.select(group="console_scripts"):
        module, _, attr = entry.value.partition(":")
        script = bin_dir / entry.name
        script.write_text(
            f"#!{bin_dir / 'python'}\nimport sys\nfrom {module} import {attr.split('.')[0]}\nsys.exit({attr}())\n"
        )
        script.chmod(0o755)


def build_env(dockerfile: Dockerfile) -> ImageEnv:
    """The image's environment, built once and reused while what it holds is unchanged."""
    dists = resolve(dockerfile)
    root = CACHE_DIR / f"{dockerfile.name}-{_fingerprint(dockerfile, dists)}"
    env = ImageEnv(dockerfile, root, tuple(sorted(dists)))
    if (root / "ready").exists():
        return env
    if root.exists():
        subprocess.run(["rm", "-rf", str(root)], check=True)
    venv = root / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = _site_packages(venv)
    for dist in dists.values():
        _link_distribution(dist, site, venv / "bin")
    env.app.mkdir(parents=True)
    for dest, source in dockerfile.copies.items():
        src = REPO_ROOT / source
        if dest.startswith("/app/"):
            (env.app / dest.removeprefix("/app/")).symlink_to(src)
        if source in dockerfile.project_packages and any(r.startswith(".") for r in dockerfile.requirements):
            (site / source).symlink_to(src)  # `pip install .` installs the copied packages
    (root / "ready").write_text("\n".join(sorted(dists)) + "\n")
    return env
