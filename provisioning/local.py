"""The local provisioner: a client project is a folder (``b2brec.projects.local``) plus its services
as processes on the project's ports. A template version changes what those services run (their
runtime settings; the image digests are recorded for the record and the GCP side).

The project records the version it runs, and every apply, in ``template.json``::

    {"version": "1.3.0", "images": {...}, "runtime": {...}, "applied_at": "...",
     "history": [{"from": "1.2.0", "to": "1.3.0", "at": "...", "changes": {...}, "healthy": true}]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from b2brec.progress import OnEvent, emit
from b2brec.projects.local import (
    LocalClientProject,
    ProjectNotFound,
    create_project,
    delete_project,
    list_projects,
    open_project,
    set_template_version,
    update_spec,
)
from b2brec.settings import Settings
from b2brec.spec import ClientSpec
from provisioning.base import ApplyResult, ProvisionError, ProvisionResult, ProvisionStatus, ServiceState
from provisioning.local_services import LocalService, default_services, wait_healthy
from provisioning.templates import TemplateRegistry, TemplateVersion, registry_for

TEMPLATE_FILE = "template.json"


def read_template(project: LocalClientProject) -> dict[str, Any] | None:
    """The template record of a project (None for one created before it had one)."""
    path = project.root / TEMPLATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _write_template(project: LocalClientProject, record: dict[str, Any]) -> None:
    path = project.root / TEMPLATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.replace(tmp, path)


def diff_versions(old: dict[str, Any] | None, new: TemplateVersion) -> dict[str, Any]:
    """What changes between the recorded template and ``new``: images and runtime settings, per name."""
    old_images: dict[str, str] = (old or {}).get("images", {})
    old_runtime: dict[str, dict[str, str]] = (old or {}).get("runtime", {})
    changes: dict[str, Any] = {}
    images = {
        name: {"from": old_images.get(name), "to": new.images.get(name)}
        for name in sorted(set(old_images) | set(new.images))
        if old_images.get(name) != new.images.get(name)
    }
    if images:
        changes["images"] = images
    runtime: dict[str, dict[str, Any]] = {}
    for service in sorted(set(old_runtime) | set(new.runtime)):
        before, after = old_runtime.get(service, {}), new.runtime.get(service, {})
        changed = {
            key: {"from": before.get(key), "to": after.get(key)}
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        }
        if changed:
            runtime[service] = changed
    if runtime:
        changes["runtime"] = runtime
    return changes


def _health_event(on_event: OnEvent | None, state: ServiceState, *, restarted: bool) -> None:
    if state.healthy:
        message = f"{state.name} healthy at {state.url}" + ("" if restarted else " (left running)")
        emit(on_event, "health", "done", message=message, service=state.name, url=state.url, restarted=restarted)
    else:
        message = f"{state.name} not healthy: {state.detail}"
        emit(
            on_event,
            "health",
            "error",
            message=message,
            service=state.name,
            url=state.url,
            detail=state.detail,
            code="provision_unhealthy",
            restarted=restarted,
        )


class LocalProvisioner:
    """Creates, upgrades and deletes local client projects and runs their services."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: TemplateRegistry | None = None,
        services: Sequence[LocalService] | None = None,
        health_timeout: float = 90.0,
    ) -> None:
        self.settings = settings
        self.registry = registry or registry_for(settings)
        self.services = list(services) if services is not None else default_services()
        self.health_timeout = health_timeout

    # --- operations --------------------------------------------------------------------
    def create(
        self,
        spec: ClientSpec,
        version: str,
        *,
        environment: str | None = None,
        ports: dict[str, int] | None = None,
        on_event: OnEvent | None = None,
    ) -> ProvisionResult:
        """Create the project on ``version`` and start its services (or, if it exists, bring it to
        ``version`` and make sure its services run)."""
        template = self.registry.deployable(version)
        versioned = spec.model_copy(update={"template_version": version})
        existing = next((p for p in list_projects(self.settings) if p.project_id == spec.project_id), None)
        emit(on_event, "project", "start", message=f"project {spec.project_id} on template {version}")
        if existing is not None and ports is None and existing.spec.datasets == spec.datasets:
            # a re-run (a resumed onboarding): its services may be up and hold the warehouse open
            project = update_spec(existing, versioned, environment=environment)
        else:
            project = create_project(versioned, self.settings, environment=environment, ports=ports)
        state = "created" if existing is None else "updated"
        emit(
            on_event,
            "project",
            "done",
            message=f"{state} project {project.project_id} in {project.root}",
            project_id=project.project_id,
            created=existing is None,
            root=str(project.root),
        )
        result = self._apply(project, template, on_event)
        return ProvisionResult(
            project_id=project.project_id,
            template_version=version,
            created=existing is None,
            urls=project.urls(),
            services=result.services,
        )

    def apply_version(self, spec: ClientSpec, version: str, *, on_event: OnEvent | None = None) -> ApplyResult:
        """Move the project to ``version``: services whose settings change (or that are down) restart,
        then every service's health is checked. Applying the version it already runs, healthy,
        changes nothing."""
        template = self.registry.deployable(version)
        project = set_template_version(self._project(spec), version)
        return self._apply(project, template, on_event)

    def status(self, spec: ClientSpec) -> ProvisionStatus:
        try:
            project = self._project(spec)
        except ProjectNotFound:
            return ProvisionStatus(project_id=spec.project_id, exists=False)
        record = read_template(project) or {}
        return ProvisionStatus(
            project_id=project.project_id,
            exists=True,
            template_version=record.get("version"),
            services={s.name: s.health(project) for s in self.services},
            outputs={"urls": project.urls(), "root": str(project.root)},
        )

    def delete(self, spec: ClientSpec, *, on_event: OnEvent | None = None) -> None:
        project = self._project(spec)
        self._stop_all(project, on_event)
        emit(on_event, "project", "start", message=f"deleting project {project.project_id}")
        delete_project(project.project_id, self.settings)
        emit(on_event, "project", "done", message=f"deleted project {project.project_id}", deleted=True)

    def stop_services(self, spec: ClientSpec, *, on_event: OnEvent | None = None) -> list[str]:
        """Stop every service of the project (its data stays); returns the ones that were running."""
        return self._stop_all(self._project(spec), on_event)

    def list_clients(self) -> list[ProvisionStatus]:
        return [self.status(p.spec) for p in list_projects(self.settings)]

    # --- internals ---------------------------------------------------------------------
    def _project(self, spec: ClientSpec) -> LocalClientProject:
        return open_project(spec.project_id, self.settings)

    def _stop_all(self, project: LocalClientProject, on_event: OnEvent | None) -> list[str]:
        stopped = []
        for service in self.services:
            if service.stop(project):
                stopped.append(service.name)
                emit(on_event, "stop", "done", message=f"stopped {service.name}", service=service.name)
        return stopped

    def _apply(self, project: LocalClientProject, template: TemplateVersion, on_event: OnEvent | None) -> ApplyResult:
        record = read_template(project)
        changes = diff_versions(record, template)
        changed_services = set(changes.get("runtime", {})) | set(changes.get("images", {}))
        restarted = []
        for service in self.services:
            state = service.health(project)
            if service.name in changed_services or not state.healthy:
                if service.stop(project):
                    emit(on_event, "stop", "done", message=f"stopped {service.name}", service=service.name)
                emit(on_event, "start", "start", message=f"starting {service.name}", service=service.name)
                try:
                    service.start(project, template.runtime.get(service.name, {}))
                except Exception as exc:
                    error = ProvisionError(f"could not start {service.name} of {project.project_id}: {exc}")
                    emit(on_event, "start", "error", message=error.message, service=service.name, code=error.code)
                    raise error from exc
                emit(on_event, "start", "done", message=f"started {service.name}", service=service.name)
                restarted.append(service.name)
        services: dict[str, ServiceState] = {}
        for service in self.services:
            if service.name in restarted:
                emit(on_event, "health", "start", message=f"waiting for {service.name} to answer", service=service.name)
                services[service.name] = wait_healthy(service, project, self.health_timeout)
            else:
                services[service.name] = service.health(project)
            _health_event(on_event, services[service.name], restarted=service.name in restarted)
        from_version = record.get("version") if record else None
        now = datetime.now(UTC).isoformat()
        history = list(record.get("history", [])) if record else []
        healthy = all(s.healthy for s in services.values())
        if changes or from_version != template.version or restarted:
            history.append(
                {"from": from_version, "to": template.version, "at": now, "changes": changes, "healthy": healthy}
            )
        _write_template(
            project,
            {
                "version": template.version,
                "source": template.source.digest if template.source else None,
                "images": template.images,
                "runtime": template.runtime,
                "applied_at": now if from_version != template.version else (record or {}).get("applied_at", now),
                "history": history[-50:],
            },
        )
        moved = template.version if from_version in (None, template.version) else f"{from_version} → {template.version}"
        emit(
            on_event,
            "template",
            "done",
            message=f"{project.project_id} runs template {moved}",
            from_version=from_version,
            to_version=template.version,
            changes=changes,
        )
        return ApplyResult(
            project_id=project.project_id,
            from_version=from_version,
            to_version=template.version,
            changes=changes,
            restarted=restarted,
            services=services,
            log=str(project.logs_dir),
        )


def describe_result(result: ApplyResult | ProvisionResult) -> dict[str, Any]:
    """JSON-ready form of a result (for the CLI and the apps' JSON APIs)."""
    data = asdict(result)
    data["healthy"] = result.healthy
    return data
