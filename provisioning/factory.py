"""The platform's provisioner, chosen by the backends seam (``B2BREC_BACKEND``): a local client project
with its services on local ports on the embedded default, ``terraform apply`` of the client's
synthesized stack on Google Cloud. The control plane, its worker and ``b2brec client`` build theirs here;
progress (terraform's lines included) comes back per operation through ``on_event``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from b2brec.backends.factory import provisions_with_terraform
from b2brec.errors import B2BRecError
from b2brec.settings import Settings
from provisioning.base import Provisioner
from provisioning.templates import TemplateRegistry

if TYPE_CHECKING:
    from provisioning.local_services import LocalService


def provisioner_for(
    settings: Settings,
    *,
    registry: TemplateRegistry,
    stacks_dir: Path,
    terraform: str | None = None,
    platform_file: Path | None = None,
    impersonate: str | None = None,
    services: Sequence[LocalService] | None = None,
) -> Provisioner:
    """``TerraformProvisioner`` on GCP: stacks synthesized under ``stacks_dir``, ``terraform`` the executable,
        ``platform_file`` the platform settings, ``impersonate`` the deployer it acts as. Else ``LocalProvisioner``
    running ``services`` (default: ``default_services()``; ``[]`` starts none).
        A missing terraform binary or platform file fails here, at start-up, with how to fix it."""
    if provisions_with_terraform(settings):
        if services is not None:
            raise B2BRecError(
                "which local services run is a local client project's choice; on Google Cloud the client's "
                "services are its stack's Cloud Run services",
                code="local_only",
            )
        from provisioning.terraform import TerraformProvisioner
        from stacks.platform import DEFAULT_PLATFORM_FILE, load_platform

        return TerraformProvisioner(
            settings,
            platform=load_platform(platform_file or DEFAULT_PLATFORM_FILE),
            out_dir=stacks_dir,
            terraform=terraform,
            registry=registry,
            impersonate=impersonate,
        )
    from provisioning.local import LocalProvisioner

    return LocalProvisioner(settings, registry=registry, services=services)
