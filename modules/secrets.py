"""Secrets: Secret Manager containers only, replicated in the environment's region.

A value never enters Terraform (no ``google_secret_manager_secret_version`` here): operators
or the client app add versions through the secrets backend, so no state file holds one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cdktn_provider_google.secret_manager_secret import (
    SecretManagerSecret,
    SecretManagerSecretReplication,
    SecretManagerSecretReplicationUserManaged,
    SecretManagerSecretReplicationUserManagedReplicas,
)
from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from constructs import Construct

from modules.base import (
    PROTECTED,
    PropsError,
    bind_members,
    key,
    require_iam,
    require_labels,
    require_project,
    require_region,
)

_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@dataclass(frozen=True, kw_only=True)
class SecretSpec:
    description: str
    iam: dict[str, list[str]] = field(default_factory=dict)
    """``role -> members`` on this secret only, e.g. ``roles/secretmanager.secretAccessor``."""


@dataclass(frozen=True, kw_only=True)
class SecretsProps:
    project_id: str
    region: str
    """The single replica's location (user-managed replication keeps secrets in-region)."""
    labels: dict[str, str]
    secrets: dict[str, SecretSpec]
    """Keyed by secret id."""


class Secrets(Construct):
    def __init__(self, scope: Construct, id_: str, props: SecretsProps) -> None:
        super().__init__(scope, id_)
        require_project(props.project_id, "secrets")
        require_region(props.region, "secrets")
        labels = require_labels(props.labels, "secrets")
        self.secrets: dict[str, SecretManagerSecret] = {}
        for secret_id in sorted(props.secrets):
            spec = props.secrets[secret_id]
            where = f"secret {secret_id!r}"
            if not _SECRET_ID.match(secret_id):
                raise PropsError(f"{where}: use letters, digits, _ and - only (at most 255)")
            iam = require_iam(spec.iam, where)
            secret = SecretManagerSecret(
                self,
                key(secret_id),
                project=props.project_id,
                secret_id=secret_id,
                labels=labels,
                annotations={"description": spec.description},
                replication=SecretManagerSecretReplication(
                    user_managed=SecretManagerSecretReplicationUserManaged(
                        replicas=[SecretManagerSecretReplicationUserManagedReplicas(location=props.region)]
                    )
                ),
                deletion_protection=True,
                deletion_policy="PREVENT",
                lifecycle=PROTECTED,
            )
            self.secrets[secret_id] = secret
            bind_members(
                self,
                SecretManagerSecretIamMember,
                iam,
                id_prefix=(secret_id,),
                project=props.project_id,
                secret_id=secret.secret_id,
            )
