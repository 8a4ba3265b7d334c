"""The Terraform provisioner: synthesize the client stack on a template version, run terraform
init/plan/apply with every line captured to a log file, and read ``terraform output -json`` back
(the client's project id and service URLs).

Nothing here can reach Google Cloud from this machine; tests run it against a recording fake
``terraform`` and check the commands, the folders and what is read back.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from b2brec.errors import B2BRecError
from b2brec.progress import OnEvent, emit
from b2brec.settings import Settings
from b2brec.spec import ClientSpec
from provisioning.base import ApplyResult, PlanSummary, ProvisionResult, ProvisionStatus, ServiceState
from provisioning.templates import StackSource, TemplateRegistry, TemplateVersion, current_source, registry_for
from stacks.synth import STACK_FILE, Target, synthesize
from stacks.terraform import TerraformFailed, TerraformRunner, find_terraform

if TYPE_CHECKING:
    from stacks.platform import PlatformConfig

_PLAN_SUMMARY = re.compile(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy")
APPLIED_FILE = "applied.json"
"""Written beside the stack after a successful apply: the template version it runs."""
_URL_OUTPUTS = {"client_app_url": "client_app", "serving_url": "serving"}


def stack_name(spec: ClientSpec) -> str:
    """The client's stack (and state prefix) name: ``{sanitized name}-{env}``, as its environment file."""
    return f"{spec.sanitized_name}-{spec.env}"


def plan_summary(lines: list[str]) -> dict[str, int]:
    """``{"add": n, "change": n, "destroy": n}`` from terraform plan's summary line ({} if none)."""
    for line in reversed(lines):
        found = _PLAN_SUMMARY.search(line)
        if found:
            return dict(zip(("add", "change", "destroy"), map(int, found.groups()), strict=True))
    if any("No changes." in line for line in lines):
        return {"add": 0, "change": 0, "destroy": 0}
    return {}


_ACTIONS: dict[tuple[str, ...], str] = {
    ("create",): "create",
    ("update",): "update",
    ("delete",): "delete",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
}


def summarize_plan(plan: dict[str, Any]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Counts as terraform's ``Plan:`` line says them, and actions per resource type, from a JSON plan
    (``terraform show -json``). Data sources and no-op resources are left out, as terraform does."""
    counts = {"add": 0, "change": 0, "destroy": 0}
    by_type: dict[str, dict[str, int]] = {}
    for change in plan.get("resource_changes") or []:
        if change.get("mode", "managed") != "managed":
            continue
        action = _ACTIONS.get(tuple((change.get("change") or {}).get("actions") or ()))
        if action is None:
            continue
        counts["add"] += action in ("create", "replace")
        counts["change"] += action == "update"
        counts["destroy"] += action in ("delete", "replace")
        per_type = by_type.setdefault(str(change.get("type", "?")), {})
        per_type[action] = per_type.get(action, 0) + 1
    return counts, by_type


class LogSink:
    """Appends each line to a log file and keeps this operation's lines (for the plan summary); each
    line is also an ``advance`` event of the running stage (``data["line"]``), so a caller can stream it."""

    def __init__(self, path: Path, on_event: OnEvent | None = None, *, stage: str = "log", **data: Any) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lines: list[str] = []
        self.on_event = on_event
        self.data = data
        """Added to every event (``destroy=True`` for a delete)."""
        self.stage = stage
        """The stage lines belong to: the running terraform command, or the operation before the first."""
        self._started: str | None = None

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        emit(self.on_event, self.stage, "advance", message=line, line=line, **self.data)

    def step(self, stage: str, message: str = "") -> None:
        """Finish the running stage (if one was started) and start ``stage``."""
        self.finish()
        self.stage = self._started = stage
        emit(self.on_event, stage, "start", message=message or f"terraform {stage}", **self.data)

    def finish(self, message: str = "") -> None:
        if self._started is not None:
            emit(self.on_event, self._started, "done", message=message or f"{self._started} done", **self.data)
            self._started = None

    def failed(self, error: B2BRecError) -> None:
        """The running stage failed: an ``error`` event naming the log."""
        emit(
            self.on_event,
            self.stage,
            "error",
            message=error.message,
            code=error.code,
            fix=error.fix or "",
            log=str(self.path),
            **self.data,
        )
        self._started = None


class TerraformProvisioner:
    def __init__(
        self,
        settings: Settings,
        *,
        platform: PlatformConfig,
        out_dir: Path,
        terraform: str | None = None,
        registry: TemplateRegistry | None = None,
        impersonate: str | None = None,
        source: StackSource | None = None,
    ) -> None:
        """``impersonate``: the service account terraform acts as (the platform's deployer), through
        ``GOOGLE_IMPERSONATE_SERVICE_ACCOUNT``, which the Google provider and the GCS state backend read.
        ``source``: the stacks code this provisioner synthesizes (default: the checkout it runs from); a
        version published from other code is refused."""
        self.settings = settings
        self.platform = platform
        self.out_dir = Path(out_dir)
        env = {"GOOGLE_IMPERSONATE_SERVICE_ACCOUNT": impersonate} if impersonate else {}
        self.runner = TerraformRunner(find_terraform(terraform), env)  # fail before anything when it is missing
        self.registry = registry or registry_for(settings)
        self._source = source

    @property
    def source(self) -> StackSource:
        if self._source is None:
            self._source = current_source()
        return self._source

    def workdir(self, spec: ClientSpec) -> Path:
        return self.out_dir / stack_name(spec)

    def _sink(self, spec: ClientSpec, operation: str, on_event: OnEvent | None, **data: Any) -> LogSink:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = self.out_dir / "logs" / f"{stack_name(spec)}-{operation}-{stamp}.log"
        return LogSink(path, on_event, stage=operation, **data)

    def _template(self, version: str) -> TemplateVersion:
        """``version`` if it is deployable and was published from the stacks code this provisioner runs."""
        template = self.registry.deployable(version)
        template.check_source(self.source)
        return template

    def _synth(self, spec: ClientSpec, template: TemplateVersion, sink: LogSink) -> Path:
        """The stack on ``template``, with its image digests pinned."""
        version = template.version
        sink.step("synth", f"synthesizing {stack_name(spec)} on template {version}")
        versioned = spec.model_copy(update={"template_version": version})
        target = Target(stack_name(spec), versioned, images=dict(template.images))
        (result,) = synthesize([target], self.platform, self.out_dir)
        sink(f"# stacks {self.source.digest}" + (f" (commit {self.source.commit})" if self.source.commit else ""))
        trainer = template.images.get("trainer")
        sink(
            f"# trainer image pinned: {trainer}"
            if trainer
            else f"# trainer image unpinned: template {version} has no trainer digest; using the tag trainer:{version}"
        )
        sink.finish(f"synthesized {result.resources} resources")
        return result.path.parent

    def _run(self, workdir: Path, sink: LogSink, *, plan_only: bool, destroy: bool = False) -> None:
        """terraform init/plan(/apply) in ``workdir``, each command a stage, its lines into ``sink``."""
        try:
            self.runner.run(workdir, plan_only=plan_only, on_step=sink.step, output=sink, destroy=destroy)
        except TerraformFailed as exc:
            failed = TerraformFailed(f"{exc.message}: {sink.path}")
            sink.failed(failed)
            raise failed from None
        sink.finish()

    def _outputs(self, workdir: Path, sink: LogSink) -> dict[str, Any]:
        sink.step("output", "terraform output -json")
        try:
            outputs = self.runner.output_json(workdir)
        except TerraformFailed as exc:
            sink.failed(exc)
            raise
        urls = {name: str(outputs[key]) for key, name in _URL_OUTPUTS.items() if outputs.get(key)}
        sink.finish(", ".join(f"{name} {url}" for name, url in urls.items()) or "no service URLs")
        return outputs

    def _apply(
        self, spec: ClientSpec, version: str, operation: str, on_event: OnEvent | None
    ) -> tuple[Path, LogSink, dict[str, Any]]:
        template = self._template(version)
        sink = self._sink(spec, operation, on_event)
        sink(f"# {operation} {stack_name(spec)} on template {version}")
        workdir = self._synth(spec, template, sink)
        self._run(workdir, sink, plan_only=False)
        outputs = self._outputs(workdir, sink)
        (workdir / APPLIED_FILE).write_text(json.dumps({"version": version, "at": datetime.now(UTC).isoformat()}))
        return workdir, sink, outputs

    def plan(self, spec: ClientSpec, version: str, *, on_event: OnEvent | None = None) -> PlanSummary:
        """Synthesize the stack on ``version``, ``init`` and ``plan -out=tfplan`` (nothing is applied), and
        summarize the saved plan from ``terraform show -json tfplan``."""
        template = self._template(version)
        sink = self._sink(spec, "plan", on_event)
        sink(f"# plan {stack_name(spec)} on template {version}")
        workdir = self._synth(spec, template, sink)
        self._run(workdir, sink, plan_only=True)
        sink.step("show")
        sink("$ terraform show -json tfplan")
        try:
            plan = self.runner.show_json(workdir)
        except TerraformFailed as exc:
            failed = TerraformFailed(f"{exc.message}: {sink.path}")
            sink.failed(failed)
            raise failed from None
        counts, by_type = summarize_plan(plan)
        sink(f"# {counts['add']} to add, {counts['change']} to change, {counts['destroy']} to destroy")
        sink.finish(f"{counts['add']} to add, {counts['change']} to change, {counts['destroy']} to destroy")
        return PlanSummary(
            **counts, by_type=by_type, terraform_version=str(plan.get("terraform_version", "")), log=str(sink.path)
        )

    @staticmethod
    def _services(outputs: dict[str, Any]) -> dict[str, ServiceState]:
        # Terraform applied the services' shells; their health is the control plane's health check.
        return {
            name: ServiceState(name=name, url=str(outputs[key]), running=True, healthy=True, detail="applied")
            for key, name in _URL_OUTPUTS.items()
            if outputs.get(key)
        }

    def create(self, spec: ClientSpec, version: str, *, on_event: OnEvent | None = None) -> ProvisionResult:
        existed = (self.workdir(spec) / STACK_FILE).exists()
        _, sink, outputs = self._apply(spec, version, "create", on_event)
        return ProvisionResult(
            project_id=str(outputs.get("project_id") or spec.project_id),
            template_version=version,
            created=not existed,
            urls={name: str(outputs[key]) for key, name in _URL_OUTPUTS.items() if outputs.get(key)},
            services=self._services(outputs),
            outputs=outputs,
            log=str(sink.path),
        )

    def apply_version(self, spec: ClientSpec, version: str, *, on_event: OnEvent | None = None) -> ApplyResult:
        from_version = _recorded_version(self.workdir(spec))
        _, sink, outputs = self._apply(spec, version, "apply", on_event)
        planned = plan_summary(sink.lines)
        return ApplyResult(
            project_id=str(outputs.get("project_id") or spec.project_id),
            from_version=from_version,
            to_version=version,
            changes={"resources": planned} if any(planned.values()) else {},
            services=self._services(outputs),
            log=str(sink.path),
        )

    def status(self, spec: ClientSpec) -> ProvisionStatus:
        workdir = self.workdir(spec)
        if not (workdir / STACK_FILE).exists():
            return ProvisionStatus(project_id=spec.project_id, exists=False)
        outputs = self.runner.output_json(workdir)
        return ProvisionStatus(
            project_id=str(outputs.get("project_id") or spec.project_id),
            exists=bool(outputs),
            template_version=_recorded_version(workdir),
            services=self._services(outputs),
            outputs=outputs,
        )

    def delete(self, spec: ClientSpec, *, on_event: OnEvent | None = None) -> None:
        workdir = self.workdir(spec)
        if not (workdir / STACK_FILE).exists():
            raise TerraformFailed(f"{stack_name(spec)} was never provisioned from {self.out_dir}; nothing to delete")
        sink = self._sink(spec, "delete", on_event, destroy=True)
        self._run(workdir, sink, plan_only=False, destroy=True)


def _recorded_version(workdir: Path) -> str | None:
    """The template version last applied from ``workdir`` (None if no apply finished there)."""
    path = workdir / APPLIED_FILE
    return str(json.loads(path.read_text())["version"]) if path.exists() else None
