"""Provision client projects and apply template versions to them: ``LocalProvisioner`` (a local
client project and its services on local ports) and ``TerraformProvisioner`` (synth, plan, apply,
outputs read back). Both implement ``Provisioner``; the control plane and the CLI call them."""

from provisioning.base import ApplyResult, Provisioner, ProvisionResult, ProvisionStatus, ServiceState

__all__ = ["ApplyResult", "ProvisionResult", "ProvisionStatus", "Provisioner", "ServiceState"]
