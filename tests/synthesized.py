"""Every stack synthesized once per test process, shared by tests/infra and tests/images.

jsii starts one Node.js process per interpreter (~10 s) and a full synthesis takes ~20 s more, so
the result is computed on first use and reused by every test directory that needs it.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from b2brec.spec import ClientSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = REPO_ROOT / "environments"


@dataclass(frozen=True)
class Synthesized:
    """One synthesized stack: its JSON, where it is, and the region its resources must be in."""

    name: str
    path: Path
    data: dict[str, Any]
    region: str
    spec: ClientSpec | None

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        return self.data.get("resource", {}).get(rtype, {})

    def all_resources(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (rtype, name, body)
            for rtype, items in sorted(self.data.get("resource", {}).items())
            for name, body in sorted(items.items())
        ]


@lru_cache(maxsize=1)
def synthesized_stacks() -> tuple[Path, dict[str, Synthesized]]:
    """``(folder, {stack name: Synthesized})`` for the org, the control plane and every environment."""
    from stacks.platform import load_platform
    from stacks.synth import quiet_jsii, resolve_targets, synthesize

    quiet_jsii()
    platform = load_platform()
    out = Path(tempfile.mkdtemp(prefix="b2brec-synth-tests-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    targets = resolve_targets(ENVIRONMENTS, all_=True)
    synthesize(targets, platform, out)
    result = {}
    for target in targets:
        path = out / target.name / "cdk.tf.json"
        region = target.spec.region if target.spec else platform.region
        result[target.name] = Synthesized(target.name, path, json.loads(path.read_text()), region, target.spec)
    return out, result
