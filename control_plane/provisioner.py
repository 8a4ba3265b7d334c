"""The provisioner the control plane drives, behind the ``provisioning`` interface
(interfaces.md): ``create(spec, version)``, ``apply_version(spec, version)``, ``status(spec)``,
``delete(spec)``.

:class:`LocalProjectsProvisioner` is the embedded default: it creates (or updates) the local
client project through ``b2brec.projects.local`` and records the template version the project
runs, so applying a version really changes the project. The app takes any object with these
four methods (``create_app(provisioner=...)``), which is how the Terraform provisioner of the
``provisioning`` package plugs in on GCP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from b2brec.errors import B2BRecError
from b2brec.projects.local import create_project, delete_project, list_projects, open_project
from b2brec.settings import Settings
from b2brec.spec import ClientSpec


@dataclass(frozen=True)
class ProvisionResult:
    project_id: str
    version: str
    urls: dict[str, str] = field(default_factory=dict)
    changed: dict[str, Any] = field(default_factory=dict)
    log: str = ""


class Provisioner(Protocol):
    def create(self, spec: ClientSpec, version: str) -> ProvisionResult: ...

    def apply_version(self, spec: ClientSpec, version: str) -> ProvisionResult: ...

    def status(self, spec: ClientSpec) -> dict[str, Any]: ...

    def delete(self, spec: ClientSpec) -> None: ...


class LocalProjectsProvisioner:
    """Local client projects under ``B2BREC_HOME/clients`` (idempotent: a re-run updates in place)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _versioned(self, spec: ClientSpec, version: str) -> ClientSpec:
        return spec.model_copy(update={"template_version": version})

    def create(self, spec: ClientSpec, version: str) -> ProvisionResult:
        project = create_project(self._versioned(spec, version), self.settings)
        return ProvisionResult(
            project_id=project.project_id,
            version=version,
            urls=project.urls(),
            log=f"local client project {project.project_id} at {project.root} runs template {version}",
        )

    def apply_version(self, spec: ClientSpec, version: str) -> ProvisionResult:
        try:
            current = open_project(spec.project_id, self.settings)
        except B2BRecError:
            return self.create(spec, version)
        before = current.spec.template_version
        project = create_project(current.spec.model_copy(update={"template_version": version}), self.settings)
        changed = {} if before == version else {"template_version": {"from": before, "to": version}}
        return ProvisionResult(
            project_id=project.project_id,
            version=version,
            urls=project.urls(),
            changed=changed,
            log=f"{project.project_id}: template {before} -> {version}" if changed else "already on " + version,
        )

    def status(self, spec: ClientSpec) -> dict[str, Any]:
        for project in list_projects(self.settings):
            if project.project_id == spec.project_id:
                return {"exists": True, "template_version": project.spec.template_version, "urls": project.urls()}
        return {"exists": False}

    def delete(self, spec: ClientSpec) -> None:
        try:
            delete_project(spec.project_id, self.settings)
        except B2BRecError:
            return  # already gone: deleting is idempotent
