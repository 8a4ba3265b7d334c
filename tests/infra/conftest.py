"""Infra fixtures: every stack synthesized once per session, and a tiny one-construct synth helper.

jsii starts one Node.js process per interpreter (~10 s on first import), so synthesis is
shared: whole stacks once per session, single constructs in a throwaway stack each.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks.platform import PlatformConfig, load_platform
from stacks.synth import quiet_jsii
from tests.synthesized import ENVIRONMENTS, REPO_ROOT, Synthesized, synthesized_stacks  # noqa: F401 (re-exported)

quiet_jsii()

LABELS = {
    "client_id": "acme-001",
    "template_version": "v1",
    "environment": "dev",
    "cost_center": "sales",
    "created_date": "2026-01-01",
}
PROJECT = "client-acme-dev"
REGION = "europe-west1"


@pytest.fixture(scope="session")
def platform() -> PlatformConfig:
    return load_platform()


@pytest.fixture(scope="session")
def synth_dir() -> Path:
    return synthesized_stacks()[0]


@pytest.fixture(scope="session")
def stacks() -> dict[str, Synthesized]:
    return synthesized_stacks()[1]


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
