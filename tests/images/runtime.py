"""What a synthesized stack gives a container at run time: its environment and arguments.

Values Terraform resolves only at apply time (``${google_cloud_run_v2_service.x.uri}``) are
replaced by what the test names for them; escaped literals (``$${``, ``%%{``) are unescaped the
way Terraform does, so the process sees exactly the string the spec held.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from b2brec.settings import Settings

_REFERENCE = re.compile(r"(?<!\$)\$\{([^}]*)\}")


@dataclass(frozen=True)
class ContainerRuntime:
    """One container of a Cloud Run service or job as the stack defines it."""

    stack: str
    kind: str
    """``service``, ``job`` or ``pool`` (a worker pool)."""
    name: str
    env: dict[str, str]
    secret_env: dict[str, dict[str, Any]]
    args: tuple[str, ...]
    sidecars: tuple[dict[str, Any], ...] = field(default=())
    command: tuple[str, ...] = ()
    """What runs instead of the image's ENTRYPOINT (empty = the ENTRYPOINT)."""
    depends_on: tuple[str, ...] = ()

    def resolved_env(self, references: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment with references replaced (an unknown one fails) and escapes undone."""
        return {
            key: resolve(value, references or {}, where=f"{self.stack}/{self.name} {key}")
            for key, value in self.env.items()
        }


def resolve(value: str, references: Mapping[str, str], *, where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        expression = match.group(1)
        for suffix, replacement in references.items():
            if expression.endswith(suffix):
                return replacement
        raise AssertionError(f"{where}: no test value for the reference ${{{expression}}}; add one")

    resolved = _REFERENCE.sub(replace, value)
    return resolved.replace("$${", "${").replace("%%{", "%{")


def containers(stack_name: str, data: dict[str, Any]) -> dict[tuple[str, str], ContainerRuntime]:
    """``(kind, name) -> the main container`` of every Cloud Run service, job and worker pool in a stack."""
    found: dict[tuple[str, str], ContainerRuntime] = {}
    kinds = {
        "google_cloud_run_v2_service": "service",
        "google_cloud_run_v2_job": "job",
        "google_cloud_run_v2_worker_pool": "pool",
    }
    for rtype, kind in kinds.items():
        for body in data.get("resource", {}).get(rtype, {}).values():
            template = body["template"]["template"] if kind == "job" else body["template"]
            main, *sidecars = template["containers"]
            env = {item["name"]: item["value"] for item in main.get("env", []) if "value" in item}
            secret_env = {item["name"]: item["value_source"] for item in main.get("env", []) if "value_source" in item}
            found[(kind, body["name"])] = ContainerRuntime(
                stack_name,
                kind,
                body["name"],
                env,
                secret_env,
                tuple(main.get("args") or ()),
                tuple(sidecars),
                tuple(main.get("command") or ()),
                tuple(body.get("depends_on") or ()),
            )
    return found


def written_secret_versions(data: dict[str, Any]) -> dict[str, str]:
    """``secret id -> address of the version`` for each secret whose version the stack itself writes."""
    secrets = data.get("resource", {}).get("google_secret_manager_secret", {})
    by_reference = {f"${{google_secret_manager_secret.{name}.id}}": body["secret_id"] for name, body in secrets.items()}
    return {
        by_reference[body["secret"]]: f"google_secret_manager_secret_version.{name}"
        for name, body in data.get("resource", {}).get("google_secret_manager_secret_version", {}).items()
        if body["secret"] in by_reference
    }


def unwritten_secret_refs(runtime: ContainerRuntime, data: dict[str, Any]) -> list[str]:
    """Secret env vars of ``runtime`` whose ``latest`` version may not exist at its first revision: the stack
    does not write the secret's version, or the resource does not wait for it (defect 7)."""
    versions = written_secret_versions(data)
    bad = []
    for name, source in sorted(runtime.secret_env.items()):
        ref = source["secret_key_ref"]
        version = versions.get(ref["secret"])
        if version is None or version not in runtime.depends_on:
            bad.append(name)
    return bad


def settings_from_environment(env: Mapping[str, str]) -> Settings:
    """``Settings`` as the image's process builds them: read from its environment, so pydantic-settings
    decodes the JSON-valued variables (``B2BREC_SOURCE_HOSTS_ALLOWED``) as it does on Cloud Run."""
    with mock.patch.dict(os.environ, dict(env), clear=True):
        return Settings()
