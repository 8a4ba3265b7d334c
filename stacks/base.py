"""What every stack does the same way: provider, GCS state backend, labels, API dependencies."""

from __future__ import annotations

from datetime import date

from cdktn import GcsBackend, TerraformResource, TerraformStack
from cdktn_provider_google.project_service import ProjectService
from cdktn_provider_google.provider import GoogleProvider
from constructs import Construct

from b2brec import naming
from stacks.platform import PlatformConfig


def address(resource: TerraformResource) -> str:
    """``type.name`` as Terraform wants it in ``depends_on`` (``fqn`` would render as ``${...}``)."""
    return f"{resource.terraform_resource_type}.{resource.friendly_unique_id}"


def add_dependencies(resource: TerraformResource, on: list[TerraformResource]) -> None:
    resource.depends_on = [*(resource.depends_on or []), *(address(r) for r in on)]


class PlatformStack(TerraformStack):
    """A stack with the Google provider pinned to one project/region and its own state prefix."""

    def __init__(self, scope: Construct, id_: str, *, platform: PlatformConfig, project: str, region: str) -> None:
        super().__init__(scope, id_)
        self.platform = platform
        GoogleProvider(self, "google", project=project, region=region, add_terraform_attribution_label=False)
        GcsBackend(self, bucket=platform.state_bucket, prefix=f"stacks/{id_}")

    def platform_labels(self, environment: str = "prod") -> dict[str, str]:
        """The five labels for the platform's own resources."""
        return naming.labels(
            client_id="platform",
            template_version=self.platform.template_version,
            environment=environment,
            cost_center=self.platform.cost_center,
            created=date.fromisoformat(self.platform.created),
        )

    def depend_on_apis(self, services: dict[str, ProjectService], *, skip: Construct) -> None:
        """Make every resource outside ``skip`` wait for the project's APIs (created in the same apply)."""
        apis: list[TerraformResource] = [services[name] for name in sorted(services)]
        skipped = {node.node.path for node in skip.node.find_all()}
        for node in self.node.find_all():
            if isinstance(node, TerraformResource) and node.node.path not in skipped:
                add_dependencies(node, apis)
