"""What every construct shares: the props error, validators, and IAM member expansion.

Constructs receive plain values (no providers, backends or environment lookups) and
validate them here, so a bad value fails at synth time with the value and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cdktn import TerraformResourceLifecycle, TerraformStack
from constructs import Construct

from b2brec import naming
from b2brec.errors import B2BRecError

BASIC_ROLES: frozenset[str] = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
"""Primitive roles: never granted by any construct."""

PUBLIC_MEMBERS: frozenset[str] = frozenset({"allUsers", "allAuthenticatedUsers"})

_REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,48}[a-z0-9]$")
_MEMBER = re.compile(r"^(serviceAccount|user|group|domain|principal|principalSet):\S+$")
_ROLE = re.compile(r"^(roles/[A-Za-z0-9_.]+|projects/\S+/roles/\S+|organizations/\d+/roles/\S+)$")
_KEY_CHARS = re.compile(r"[^a-z0-9]+")

PROTECTED = TerraformResourceLifecycle(prevent_destroy=True)
"""Lifecycle of stateful resources: Terraform refuses to plan their destruction."""


def tf_literal(text: str) -> str:
    """``text`` as a Terraform string literal: ``${`` and ``%{`` escaped (``$${``, ``%%{``), so a value
    from a ClientSpec (``${B2BREC_HOME}/x``, a hostile display name) reaches the resource unchanged
    instead of being parsed as an interpolation or template directive."""
    return text.replace("${", "$${").replace("%{", "%%{")


# --- references to service accounts --------------------------------------------------------------
# Props name members and accounts by their readable email (construct ids derive from it and must stay
# stable), while the synthesized value must reference the service-account resource, or Terraform
# would not order the binding after the account it names ("service account does not exist").
_REFERENCES: dict[tuple[int, str], dict[str, str]] = {}


def _stack_key(scope: Construct) -> tuple[int, str]:
    stack = TerraformStack.of(scope)
    return id(stack.node.root), stack.node.path


def register_references(scope: Construct, references: Mapping[str, str]) -> None:
    """Record ``readable value -> resource attribute`` (member or email) for the stack of ``scope``."""
    _REFERENCES.setdefault(_stack_key(scope), {}).update(references)


def reference(scope: Construct, value: str) -> str:
    """The resource attribute registered for ``value`` in this stack, else ``value`` itself."""
    return _REFERENCES.get(_stack_key(scope), {}).get(value, value)


def is_token(value: str) -> bool:
    """True for an unresolved cdktn token (a reference known only at apply time)."""
    return "${" in value


class PropsError(B2BRecError):
    """A construct was given a value it cannot build; the message says which and how to fix it."""

    code = "invalid_infra_props"


def require_project(value: str, where: str) -> str:
    if not _PROJECT.match(value):
        raise PropsError(f"{where}: project id {value!r} is invalid; use 6-30 lowercase letters, digits, hyphens")
    return value


def require_region(value: str, where: str) -> str:
    if not _REGION.match(value):
        raise PropsError(f"{where}: region {value!r} is invalid; use a GCP region such as europe-west1")
    return value


def require_name(value: str, where: str) -> str:
    if not _NAME.match(value):
        raise PropsError(f"{where}: name {value!r} is invalid; use lowercase letters, digits and hyphens")
    return value


def require_labels(labels: Mapping[str, str], where: str) -> dict[str, str]:
    """Every labelable resource carries the five standard labels."""
    missing = [key for key in naming.LABEL_KEYS if key not in labels]
    if missing:
        raise PropsError(f"{where}: labels {missing} are missing; pass spec.all_labels (it has all five)")
    return dict(labels)


def require_roles(roles: Iterable[str], where: str) -> list[str]:
    """Predefined or custom roles only: a basic role (owner/editor/viewer) is refused."""
    for role in roles:
        if role in BASIC_ROLES:
            raise PropsError(f"{where}: basic role {role!r} is not allowed; grant a predefined role instead")
        if not _ROLE.match(role):
            raise PropsError(f"{where}: {role!r} is not a role; use e.g. roles/storage.objectViewer")
    return sorted(set(roles))


def require_iam(iam: Mapping[str, Iterable[str]], where: str, *, allow_public: bool = False) -> dict[str, list[str]]:
    """Validate ``role -> members``: no basic roles, well-formed members, public only when allowed."""
    checked: dict[str, list[str]] = {}
    for role, members in iam.items():
        require_roles([role], where)
        members = list(members)
        for member in members:
            if member in PUBLIC_MEMBERS:
                if not allow_public:
                    raise PropsError(f"{where}: {member} in {role} would make it public; remove it")
            elif not _MEMBER.match(member):
                raise PropsError(
                    f"{where}: member {member!r} in {role} is invalid; use serviceAccount:EMAIL or group:EMAIL"
                )
        checked[role] = members
    return checked


def key(*parts: str) -> str:
    """A stable construct id from names (``roles/bigquery.jobUser`` → ``roles_bigquery_jobuser``)."""
    return "_".join(_KEY_CHARS.sub("_", part.lower()).strip("_") for part in parts)


def iam_pairs(iam: Mapping[str, list[str]]) -> list[tuple[str, str, str]]:
    """``(construct id, role, member)`` for each binding, in a stable order."""
    return [(key(role, member), role, member) for role in sorted(iam) for member in sorted(iam[role])]


def bind_members(
    scope: Construct,
    member_resource: Callable[..., object],
    iam: Mapping[str, list[str]],
    *,
    id_prefix: tuple[str, ...] = (),
    **target: Any,
) -> None:
    """One ``*IamMember`` resource per (role, member) of ``iam``, on the resource ``target`` names
    (e.g. ``bucket=...`` or ``project=..., location=..., name=...``); construct ids
    ``key(*id_prefix, "iam", role, member)``, so they stay stable. A member registered with
    ``register_references`` is written as the reference (so the binding waits for its account)."""
    for member_id, role, member in iam_pairs(iam):
        member_resource(scope, key(*id_prefix, "iam", member_id), role=role, member=reference(scope, member), **target)
