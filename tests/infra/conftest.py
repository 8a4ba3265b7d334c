"""Infra fixtures: every stack synthesized once per session, and a tiny one-construct synth helper.

jsii starts one Node.js process per interpreter (~10 s on first import), so synthesis is
shared: whole stacks once per session, single constructs in a throwaway stack each.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from b2brec.spec import ClientSpec
from stacks.platform import PlatformConfig, load_platform
from stacks.synth import quiet_jsii, resolve_targets, synthesize

quiet_jsii()

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = REPO_ROOT / "environments"
LABELS = {
    "client_id": "acme-001",
    "template_version": "v1",
    "environment": "dev",
    "cost_center": "sales",
    "created_date": "2026-01-01",
}
PROJECT = "client-acme-dev"
REGION = "europe-west1"


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


@pytest.fixture(scope="session")
def platform() -> PlatformConfig:
    return load_platform()


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory, platform: PlatformConfig) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(resolve_targets(ENVIRONMENTS, all_=True), platform, out)
    return out


@pytest.fixture(scope="session")
def stacks(synth_dir: Path, platform: PlatformConfig) -> dict[str, Synthesized]:
    result = {}
    for target in resolve_targets(ENVIRONMENTS, all_=True):
        path = synth_dir / target.name / "cdk.tf.json"
        region = target.spec.region if target.spec else platform.region
        result[target.name] = Synthesized(target.name, path, json.loads(path.read_text()), region, target.spec)
    return result


def synth_construct(build: Callable[[Any], None]) -> dict[str, Any]:
    """Synthesize ``build(stack)`` in a bare test stack and return the parsed JSON."""
    from cdktn import TerraformStack, Testing

    app = Testing.app()
    stack = TerraformStack(app, "test")
    build(stack)
    return json.loads(Testing.synth(stack))


def only(data: dict[str, Any], rtype: str) -> dict[str, Any]:
    """The single resource of ``rtype`` (fails when there are none or several)."""
    items = list(data.get("resource", {}).get(rtype, {}).values())
    assert len(items) == 1, f"expected one {rtype}, found {len(items)}"
    return items[0]


def has(data: dict[str, Any], rtype: str, properties: dict[str, Any]) -> bool:
    """cdktn's partial-property matcher over a synthesized stack."""
    from cdktn import Testing

    return bool(Testing.to_have_resource_with_properties(json.dumps(data), rtype, properties))
