"""Artifact Registry: the project's Docker repository, in-region, with old untagged images cleaned up."""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktn_provider_google.artifact_registry_repository import (
    ArtifactRegistryRepository,
    ArtifactRegistryRepositoryCleanupPolicies,
    ArtifactRegistryRepositoryCleanupPoliciesCondition,
    ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions,
)
from cdktn_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
from constructs import Construct

from modules.base import (
    PropsError,
    bind_members,
    require_iam,
    require_labels,
    require_name,
    require_project,
    require_region,
)


@dataclass(frozen=True, kw_only=True)
class RegistryProps:
    project_id: str
    region: str
    name: str
    labels: dict[str, str]
    iam: dict[str, list[str]] = field(default_factory=dict)
    """``role -> members`` on the repository (e.g. readers for the runtime service accounts)."""
    keep_recent: int = 10
    """Most recent versions of each image kept whatever their age (rollback targets)."""
    untagged_days: int = 14
    """Untagged images older than this are deleted."""


class ArtifactRegistry(Construct):
    def __init__(self, scope: Construct, id_: str, props: RegistryProps) -> None:
        super().__init__(scope, id_)
        where = f"registry {props.name!r}"
        require_project(props.project_id, where)
        require_region(props.region, where)
        require_name(props.name, where)
        labels = require_labels(props.labels, where)
        iam = require_iam(props.iam, where)
        if props.keep_recent < 1 or props.untagged_days < 1:
            raise PropsError(f"{where}: keep_recent and untagged_days must be >= 1")
        self.repository = ArtifactRegistryRepository(
            self,
            "repository",
            project=props.project_id,
            location=props.region,
            repository_id=props.name,
            format="DOCKER",
            description="Container images of the platform's deployables.",
            labels=labels,
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                ArtifactRegistryRepositoryCleanupPolicies(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions(
                        keep_count=props.keep_recent
                    ),
                ),
                ArtifactRegistryRepositoryCleanupPolicies(
                    id="delete-old-untagged",
                    action="DELETE",
                    condition=ArtifactRegistryRepositoryCleanupPoliciesCondition(
                        tag_state="UNTAGGED", older_than=f"{props.untagged_days * 86400}s"
                    ),
                ),
            ],
        )
        self.url = f"{props.region}-docker.pkg.dev/{props.project_id}/{props.name}"
        bind_members(
            self,
            ArtifactRegistryRepositoryIamMember,
            iam,
            project=props.project_id,
            location=props.region,
            repository=self.repository.repository_id,
        )
