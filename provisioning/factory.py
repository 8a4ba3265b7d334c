"""The platform's provisioner, chosen by the backends seam (``B2BREC_BACKEND``): a local client project
with its services on local ports on the embedded default, ``terraform apply`` of the client's
synthesized stack on Google Cloud. The control plane and its worker build theirs here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from b2brec.backends.factory import provisions_with_terraform
from b2brec.settings import Settings
from provisioning.base import Provisioner
from provisioning.templates import TemplateRegistry


def provisioner_for(
    settings: Settings,
    *,
    registry: TemplateRegistry,
    stacks_dir: Path,
    terraform: str | None = None,
    platform_file: Path | None = None,
    echo: Callable[[str], None] | None = None,
    impersonate: str | None = None,
) -> Provisioner:
    """``TerraformProvisioner`` on GCP: stacks synthesized under ``stacks_dir``, ``terraform`` the executable,
    ``platform_file`` the platform settings, ``impersonate`` the deployer it acts as. Else ``LocalProvisioner``.
    A missing terraform binary or platform file fails here, at start-up, with how to fix it."""
    if provisions_with_terraform(settings):
        from provisioning.terraform import TerraformProvisioner
        from stacks.platform import DEFAULT_PLATFORM_FILE, load_platform

        return TerraformProvisioner(
            settings,
            platform=load_platform(platform_file or DEFAULT_PLATFORM_FILE),
            out_dir=stacks_dir,
            terraform=terraform,
            registry=registry,
            echo=echo,
            impersonate=impersonate,
        )
    from provisioning.local import LocalProvisioner

    return LocalProvisioner(settings, registry=registry)
