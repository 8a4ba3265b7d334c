"""Synthesize stacks to deterministic Terraform JSON, one folder per stack.

cdktn starts one Node.js process per interpreter on first import (~10 s), so it is imported
inside functions: commands that do not synthesize stay fast. Every stack of one call shares
one App (one synthesis pass).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from b2brec.errors import B2BRecError
from b2brec.spec import ClientSpec, list_environments, load_environment
from b2brec.spec.identity import check_environments

if TYPE_CHECKING:
    from stacks.platform import PlatformConfig

ORG_STACK = "org"
CONTROL_PLANE_STACK = "control-plane"
PLATFORM_STACKS: tuple[str, ...] = (ORG_STACK, CONTROL_PLANE_STACK)
STACK_FILE = "cdk.tf.json"
IMPORTS_FILE = "imports.tf.json"
"""Terraform ``import`` blocks, kept apart: checkov's terraform_json parser cannot read them (it skips this file)."""


class SynthError(B2BRecError):
    code = "synth_failed"


@dataclass(frozen=True)
class Target:
    """One stack to synthesize: a platform stack by name, or a client environment with its spec."""

    name: str
    spec: ClientSpec | None = None
    images: Mapping[str, str] | None = field(default=None, compare=False)
    """A client stack's image digests (a template version's ``images``), which it pins; None synthesizes
    the checkout unpinned (``b2brec synth``/``deploy``: see ``stacks.client_project.trainer_image``)."""


@dataclass(frozen=True)
class SynthResult:
    name: str
    path: Path
    size: int
    resources: int


def quiet_jsii() -> None:
    """Silence jsii's Node version banners (they go to stderr on every start)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")


def canonical_json(data: Any) -> str:
    """The one serialization written to disk: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def resolve_targets(environments_dir: Path, *, names: Sequence[str] = (), all_: bool = False) -> list[Target]:
    """Targets for ``--env`` names or ``--all`` (org, control plane, then every environment)."""
    known = list_environments(environments_dir)
    clash = sorted(set(known) & set(PLATFORM_STACKS))
    if clash:
        raise SynthError(f"environment files {clash} clash with platform stack names; rename them")
    if all_ == bool(names):
        raise SynthError("pass --env NAME (repeatable) or --all, not both and not neither")
    check_environments(environments_dir)  # two files must never map to one project
    wanted = [*PLATFORM_STACKS, *known] if all_ else list(dict.fromkeys(names))
    targets = []
    for name in wanted:
        if name in PLATFORM_STACKS:
            targets.append(Target(name))
        elif name in known:
            targets.append(Target(name, load_environment(environments_dir, name)))
        else:
            choices = ", ".join([*PLATFORM_STACKS, *known])
            raise SynthError(f"unknown stack {name!r}; choose one of: {choices}")
    return targets


def build_stacks(app: Any, targets: Sequence[Target], platform: PlatformConfig) -> None:
    """Add one stack per target to ``app`` (a cdktn App)."""
    from stacks.client_project import ClientProjectStack
    from stacks.control_plane import ControlPlaneStack
    from stacks.org import OrgStack

    for target in targets:
        if target.spec is not None:
            ClientProjectStack(app, target.name, spec=target.spec, platform=platform, images=target.images)
        elif target.name == ORG_STACK:
            OrgStack(app, target.name, platform=platform)
        else:
            # the metrics scope covers every client synthesized with it (`synth --all` in CI)
            clients = tuple(sorted(t.spec.project_id for t in targets if t.spec is not None))
            ControlPlaneStack(app, target.name, platform=platform, client_projects=clients)


def synthesize(
    targets: Sequence[Target],
    platform: PlatformConfig,
    out_dir: Path,
    *,
    on_stack: Callable[[str], None] | None = None,
) -> list[SynthResult]:
    """Write ``out_dir/{stack}/cdk.tf.json`` for every target; byte-identical for identical input."""
    quiet_jsii()
    from cdktn import App

    results = []
    with tempfile.TemporaryDirectory(prefix="b2brec-synth-") as tmp:
        app = App(outdir=tmp, stack_traces=False)
        build_stacks(app, targets, platform)
        app.synth()
        for target in targets:
            data = json.loads((Path(tmp) / "stacks" / target.name / STACK_FILE).read_text(encoding="utf-8"))
            folder = out_dir / target.name
            folder.mkdir(parents=True, exist_ok=True)
            imports = data.pop("import", None)
            (folder / IMPORTS_FILE).unlink(missing_ok=True)
            if imports:
                (folder / IMPORTS_FILE).write_text(canonical_json({"import": imports}), encoding="utf-8")
            text = canonical_json(data)
            path = folder / STACK_FILE
            path.write_text(text, encoding="utf-8")
            count = sum(len(items) for items in data.get("resource", {}).values())
            results.append(SynthResult(target.name, path, len(text.encode()), count))
            if on_stack is not None:
                on_stack(target.name)
    return results
