"""The provisioner interface and the results its operations return.

Every operation takes ``on_event`` and reports its steps as ``b2brec.progress.ProgressEvent``s, the
same events the ETL and the pipeline send (the CLI renders them with rich, the control plane writes
them into a provisioning job's log). Stages:

- local: ``project`` (created, updated, deleted), per service (``data["service"]``) ``stop``,
  ``start`` and ``health`` (``done`` healthy, ``error`` not, with ``data["detail"]``), then
  ``template`` (the version recorded, ``data["from_version"]``/``data["to_version"]``);
- Terraform: ``synth``, then each terraform command (``init``, ``plan``, ``apply``; ``show`` for a plan;
  a delete runs them on a destroy plan, ``data["destroy"]`` true), then ``output``. Every line of the operation's
  log (terraform's output, the ``$ terraform ...`` command lines) is also an ``advance`` event of the
  running stage with the text in ``data["line"]``; the log file keeps them all. A failing command sends
  ``error`` with ``data["code"]`` and ``data["log"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from b2brec.errors import B2BRecError
from b2brec.progress import OnEvent
from b2brec.spec import ClientSpec
from provisioning import errors as _errors  # noqa: F401  (registers the codes used here)


class ProvisionError(B2BRecError):
    code = "provision_failed"


@dataclass(frozen=True, kw_only=True)
class ServiceState:
    name: str
    url: str | None
    running: bool
    healthy: bool
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class ProvisionResult:
    """What ``create`` made: where the client's services answer, and whether they are healthy."""

    project_id: str
    template_version: str
    created: bool
    """False when the project already existed (create is idempotent)."""
    urls: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceState] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    log: str | None = None
    """Where the operation's full log was written."""

    @property
    def healthy(self) -> bool:
        return all(s.healthy for s in self.services.values())


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    """What applying a template version changed, and whether the client is healthy on it."""

    project_id: str
    from_version: str | None
    to_version: str
    changes: dict[str, Any] = field(default_factory=dict)
    """What differs between the two versions (images, runtime settings, planned resources)."""
    restarted: list[str] = field(default_factory=list)
    services: dict[str, ServiceState] = field(default_factory=dict)
    log: str | None = None

    @property
    def unchanged(self) -> bool:
        return self.from_version == self.to_version and not self.changes and not self.restarted

    @property
    def healthy(self) -> bool:
        return all(s.healthy for s in self.services.values())

    def failed_services(self) -> list[str]:
        return [name for name, state in self.services.items() if not state.healthy]


@dataclass(frozen=True, kw_only=True)
class ProvisionStatus:
    project_id: str
    exists: bool
    template_version: str | None = None
    services: dict[str, ServiceState] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.exists and all(s.healthy for s in self.services.values())


@dataclass(frozen=True, kw_only=True)
class PlanSummary:
    """What applying a client's stack would do, from the saved plan (``terraform show -json``):
    Terraform's own add/change/destroy counts (a replacement counts in add and destroy) and, per
    resource type, how many resources each action touches."""

    add: int
    change: int
    destroy: int
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    """``{"google_project": {"create": 1}, "google_cloud_run_v2_service": {"update": 2}}``"""
    terraform_version: str = ""
    log: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "add": self.add,
            "change": self.change,
            "destroy": self.destroy,
            "by_type": {k: dict(v) for k, v in sorted(self.by_type.items())},
            "terraform_version": self.terraform_version,
            "log": self.log,
        }


class Provisioner(Protocol):
    def create(self, spec: ClientSpec, version: str, *, on_event: OnEvent | None = None) -> ProvisionResult:
        """Create the client's project on template ``version`` (idempotent)."""
        ...

    def apply_version(self, spec: ClientSpec, version: str, *, on_event: OnEvent | None = None) -> ApplyResult:
        """Move an existing client to template ``version`` (idempotent); the result says what changed
        and whether the client is healthy afterwards (a canary rollout gates on it)."""
        ...

    def status(self, spec: ClientSpec) -> ProvisionStatus: ...

    def delete(self, spec: ClientSpec, *, on_event: OnEvent | None = None) -> None:
        """Stop the client's services and remove its project."""
        ...


@runtime_checkable
class Planner(Protocol):
    """A provisioner that can say what creating a client would change before it does (Terraform)."""

    def plan(self, spec: ClientSpec, version: str, *, on_event: OnEvent | None = None) -> PlanSummary:
        """Plan the client's project on template ``version`` without changing anything."""
        ...
