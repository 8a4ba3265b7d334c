"""The Terraform provisioner against a recording fake ``terraform`` (the same kind tests/infra uses):
the stack is synthesized on the template version, init/plan/apply run in its folder with every
line captured to a log file, ``terraform output -json`` is read back, a destroy plan deletes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from b2brec.backends.storage import ObjectStore
from b2brec.progress import ProgressEvent
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, load_environment
from provisioning.templates import (
    REGISTRY_KEY,
    SourceMismatch,
    StackSource,
    TemplateError,
    TemplateRegistry,
    current_source,
)
from provisioning.terraform import TerraformProvisioner, plan_summary, stack_name
from stacks.platform import load_platform
from stacks.synth import STACK_FILE, quiet_jsii
from stacks.terraform import TerraformFailed, TerraformMissing

quiet_jsii()
_APPLY_STEPS = [
    (step, kind) for step in ("synth", "init", "plan", "apply") for kind in ("start", "done")
]  # the stages of a create or an apply, before terraform output is read


def _steps(events: list[ProgressEvent]) -> list[tuple[str, str]]:
    """Each event but the log lines, as (stage, kind)."""
    return [(e.stage, e.kind) for e in events if e.kind != "advance"]


OUTPUTS = {
    "project_id": {"value": "client-demo-wholesale-dev", "type": "string", "sensitive": False},
    "serving_url": {"value": "https://serving-abc-ew.a.run.app", "type": "string", "sensitive": False},
    "client_app_url": {"value": "https://client-app-abc-ew.a.run.app", "type": "string", "sensitive": False},
}


def _fake_terraform(folder: Path, log: Path, fail_on: str = "") -> Path:
    """Appends ``cwd|argv`` to ``log``; prints a plan summary and the outputs; fails on ``fail_on``."""
    folder.mkdir(parents=True, exist_ok=True)
    outputs = folder / "outputs.json"
    outputs.write_text(json.dumps(OUTPUTS))
    script = folder / "terraform"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s|%s\\n" "$PWD" "$*" >> "{log}"\n'
        f'[ "$1" = "{fail_on}" ] && echo "Error: quota exceeded" && exit 3\n'
        'case "$1" in\n'
        '  plan) echo "Terraform will perform the following actions:"; '
        'echo "Plan: 3 to add, 2 to change, 0 to destroy.";;\n'
        '  apply) echo "Apply complete! Resources: 3 added, 2 changed, 0 destroyed.";;\n'
        f'  output) cat "{outputs}";;\n'
        "esac\nexit 0\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def registry(tmp_path: Path) -> TemplateRegistry:
    registry = TemplateRegistry(ObjectStore((tmp_path / "templates").as_uri()))
    for version in ("1.0.0", "1.1.0"):
        registry.add(version)
        registry.release(version)
    return registry


@pytest.fixture
def spec(settings: Settings) -> ClientSpec:
    return load_environment(settings.environments_dir, "demo-dev")


def test_create_apply_status_delete(
    settings: Settings, spec: ClientSpec, registry: TemplateRegistry, tmp_path: Path
) -> None:
    log = tmp_path / "argv.log"
    fake = _fake_terraform(tmp_path / "bin", log)
    out = tmp_path / "stacks"
    events: list[ProgressEvent] = []
    provisioner = TerraformProvisioner(
        settings, platform=load_platform(), out_dir=out, terraform=str(fake), registry=registry
    )
    workdir = out / stack_name(spec)
    assert stack_name(spec) == "demo-wholesale-dev"

    created = provisioner.create(spec, "1.0.0", on_event=events.append)
    assert created.created and created.template_version == "1.0.0"
    assert created.project_id == "client-demo-wholesale-dev"
    assert created.urls == {
        "client_app": "https://client-app-abc-ew.a.run.app",
        "serving": "https://serving-abc-ew.a.run.app",
    }
    assert log.read_text().splitlines() == [
        f"{workdir}|init -input=false",
        f"{workdir}|plan -input=false -lock-timeout=5m -out=tfplan",
        f"{workdir}|apply -input=false -lock-timeout=5m tfplan",
        f"{workdir}|output -json",
    ]
    stack = json.loads((workdir / STACK_FILE).read_text())
    labels = next(iter(stack["resource"]["google_project"].values()))["labels"]
    assert labels["template_version"] == "1_0_0"  # the stack was synthesized on the version
    assert created.log is not None
    captured = Path(created.log).read_text()
    assert "$ terraform plan -input=false" in captured and "Plan: 3 to add, 2 to change, 0 to destroy." in captured
    # each step starts and ends as a typed event; every line of the log is an advance event of its step
    assert _steps(events) == [*_APPLY_STEPS, ("output", "start"), ("output", "done")]
    lines = [(e.stage, e.data["line"]) for e in events if e.kind == "advance"]
    assert [line for _, line in lines] == captured.splitlines()  # the same lines, in the same order
    assert ("apply", "Apply complete! Resources: 3 added, 2 changed, 0 destroyed.") in lines
    assert ("plan", "$ terraform plan -input=false -lock-timeout=5m -out=tfplan") in lines
    assert (
        events[-1].message == "client_app https://client-app-abc-ew.a.run.app, serving https://serving-abc-ew.a.run.app"
    )

    events.clear()
    applied = provisioner.apply_version(spec, "1.1.0", on_event=events.append)
    assert _steps(events) == [*_APPLY_STEPS, ("output", "start"), ("output", "done")]
    assert (applied.from_version, applied.to_version) == ("1.0.0", "1.1.0")
    assert applied.changes == {"resources": {"add": 3, "change": 2, "destroy": 0}}
    labels = next(iter(json.loads((workdir / STACK_FILE).read_text())["resource"]["google_project"].values()))
    assert labels["labels"]["template_version"] == "1_1_0"

    status = provisioner.status(spec)
    assert status.exists and status.template_version == "1.1.0"
    assert status.outputs["serving_url"] == "https://serving-abc-ew.a.run.app"

    log.unlink()
    events.clear()
    provisioner.delete(spec, on_event=events.append)
    assert _steps(events) == _APPLY_STEPS[2:]  # init, plan -destroy, apply: nothing synthesized
    assert all(e.data["destroy"] is True for e in events)
    assert log.read_text().splitlines() == [
        f"{workdir}|init -input=false",
        f"{workdir}|plan -destroy -input=false -lock-timeout=5m -out=tfplan",
        f"{workdir}|apply -input=false -lock-timeout=5m tfplan",
    ]
    registry.retire("1.0.0")
    with pytest.raises(TemplateError, match="retired"):
        provisioner.apply_version(spec, "1.0.0")


def test_failures_say_where_the_log_is(
    settings: Settings, spec: ClientSpec, registry: TemplateRegistry, tmp_path: Path
) -> None:
    log = tmp_path / "argv.log"
    fake = _fake_terraform(tmp_path / "bin", log, fail_on="apply")
    provisioner = TerraformProvisioner(
        settings, platform=load_platform(), out_dir=tmp_path / "stacks", terraform=str(fake), registry=registry
    )
    events: list[ProgressEvent] = []
    with pytest.raises(TerraformFailed, match=r"terraform apply failed \(exit 3\).*see the provisioning log: /") as err:
        provisioner.create(spec, "1.0.0", on_event=events.append)
    log_file = Path(err.value.message.rsplit(": ", 1)[1])
    assert "Error: quota exceeded" in log_file.read_text()
    assert _steps(events)[-2:] == [("apply", "start"), ("apply", "error")]  # no output step after a failure
    failed = events[-1]
    assert failed.data["code"] == "terraform_failed" and failed.data["log"] == str(log_file)
    assert failed.message == err.value.message
    assert ("apply", "Error: quota exceeded") in [(e.stage, e.data.get("line")) for e in events]
    assert provisioner.status(spec).template_version is None  # nothing was recorded as applied
    with pytest.raises(TerraformMissing, match="no executable file there"):
        TerraformProvisioner(settings, platform=load_platform(), out_dir=tmp_path, terraform="/nowhere/terraform")


def test_plan_summary_parsing() -> None:
    assert plan_summary(["x", "Plan: 10 to add, 0 to change, 1 to destroy."]) == {"add": 10, "change": 0, "destroy": 1}
    assert plan_summary(["No changes. Your infrastructure matches the configuration."]) == {
        "add": 0,
        "change": 0,
        "destroy": 0,
    }
    assert plan_summary(["garbage"]) == {}


def test_plan_summarizes_the_saved_plan_of_the_synthesized_stack(
    settings: Settings, spec: ClientSpec, registry: TemplateRegistry, tmp_path: Path
) -> None:
    from collections import Counter

    from tests.provisioning.fake_terraform import calls, envs, fake_terraform

    bin_dir = tmp_path / "bin"
    fake = fake_terraform(bin_dir, existing=("google_project",))
    out = tmp_path / "stacks"
    provisioner = TerraformProvisioner(
        settings, platform=load_platform(), out_dir=out, terraform=str(fake), registry=registry
    )
    events: list[ProgressEvent] = []
    summary = provisioner.plan(spec, "1.1.0", on_event=events.append)

    workdir = out / stack_name(spec)
    assert calls(bin_dir) == [
        f"{workdir}|init -input=false",
        f"{workdir}|plan -input=false -lock-timeout=5m -out=tfplan",
        f"{workdir}|show -json tfplan",
    ]  # nothing applied; no -var: every value is in the synthesized stack
    assert all(env["TF_IN_AUTOMATION"] == "1" for env in envs(bin_dir))
    assert _steps(events) == [*_APPLY_STEPS[:6], ("show", "start"), ("show", "done")]  # no apply
    assert events[-1].message == f"{summary.add} to add, {summary.change} to change, 0 to destroy"
    stack = json.loads((workdir / STACK_FILE).read_text())
    assert stack["terraform"]["backend"]["gcs"]["prefix"] == f"stacks/{stack_name(spec)}"
    assert stack["terraform"]["backend"]["gcs"]["bucket"] == load_platform().state_bucket
    labels = next(iter(stack["resource"]["google_project"].values()))["labels"]
    assert labels["template_version"] == "1_1_0"
    per_type = Counter({rtype: len(items) for rtype, items in stack["resource"].items()})
    assert summary.by_type["google_project"] == {"update": per_type["google_project"]}
    assert summary.by_type["google_storage_bucket"] == {"create": per_type["google_storage_bucket"]}
    assert (summary.add, summary.change, summary.destroy) == (
        sum(per_type.values()) - per_type["google_project"],
        per_type["google_project"],
        0,
    )
    assert summary.terraform_version == "1.9.8"
    assert summary.log is not None and "$ terraform show -json tfplan" in Path(summary.log).read_text()
    assert not (workdir / "applied.json").exists()


def test_plan_summary_counts_a_replacement_as_add_and_destroy() -> None:
    from provisioning.terraform import summarize_plan

    def change(rtype: str, *actions: str, mode: str = "managed") -> dict[str, object]:
        return {"type": rtype, "mode": mode, "change": {"actions": list(actions)}}

    plan = {
        "format_version": "1.2",
        "resource_changes": [
            change("google_storage_bucket", "delete", "create"),
            change("google_storage_bucket", "create"),
            change("google_cloud_run_v2_service", "update"),
            change("google_project_iam_member", "delete"),
            change("google_project", "no-op"),
            change("google_project", "read", mode="data"),
        ],
    }
    counts, by_type = summarize_plan(plan)
    assert counts == {"add": 2, "change": 1, "destroy": 2}
    assert by_type == {
        "google_storage_bucket": {"replace": 1, "create": 1},
        "google_cloud_run_v2_service": {"update": 1},
        "google_project_iam_member": {"delete": 1},
    }


TRAINER = "sha256:" + "7e" * 32
SERVING = "sha256:" + "5e" * 32


def _trainer_images(stack: dict[str, object]) -> set[str]:
    """Every ``B2BREC_TRAINER_IMAGE`` value in a synthesized stack (the client app and its worker)."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("name") == "B2BREC_TRAINER_IMAGE" and "value" in node:
                found.add(str(node["value"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(stack)
    return found


def test_a_version_pins_its_stacks_source_and_image_digests(
    settings: Settings, spec: ClientSpec, registry: TemplateRegistry, tmp_path: Path
) -> None:
    from tests.provisioning.fake_terraform import fake_terraform

    central = f"europe-docker.pkg.dev/b2brec-platform/images/trainer@{TRAINER}"
    registry.add("1.2.0", notes="pinned", images={"trainer": TRAINER, "serving": SERVING})
    registry.add("1.3.0", notes="central registry", images={"trainer": central})
    for version in ("1.2.0", "1.3.0"):
        registry.release(version)
    here = current_source()
    assert registry.get("1.2.0").source == here  # publishing recorded this checkout's stacks code
    assert here.digest.startswith("sha256:") and here.commit and len(here.commit) == 40

    out = tmp_path / "stacks"
    provisioner = TerraformProvisioner(
        settings,
        platform=load_platform(),
        out_dir=out,
        terraform=str(fake_terraform(tmp_path / "bin")),
        registry=registry,
    )
    workdir = out / stack_name(spec)
    created = provisioner.create(spec, "1.2.0")
    (image,) = _trainer_images(json.loads((workdir / STACK_FILE).read_text()))
    assert image.endswith(f"/trainer@{TRAINER}") and ":1.2.0" not in image  # the client's registry, by digest
    assert created.log is not None
    captured = Path(created.log).read_text()
    assert f"# stacks {here.digest}" in captured and f"# trainer image pinned: {TRAINER}" in captured

    moved = provisioner.apply_version(spec, "1.3.0")
    assert (moved.from_version, moved.to_version) == ("1.2.0", "1.3.0")
    assert _trainer_images(json.loads((workdir / STACK_FILE).read_text())) == {central}

    # A version that pins no trainer (the automatic baseline, these fixtures): explicitly unpinned, by the tag.
    moved = provisioner.apply_version(spec, "1.1.0")
    (image,) = _trainer_images(json.loads((workdir / STACK_FILE).read_text()))
    assert image.endswith("/trainer:1.1.0")
    assert (
        moved.log is not None
        and "trainer image unpinned: template 1.1.0 has no trainer digest" in Path(moved.log).read_text()
    )


def test_a_version_published_from_other_stacks_code_is_refused(
    settings: Settings, spec: ClientSpec, registry: TemplateRegistry, tmp_path: Path
) -> None:
    from tests.provisioning.fake_terraform import calls, fake_terraform

    other = StackSource(digest="sha256:" + "0" * 64, commit="1" * 40)
    registry.add("1.2.0", notes="made elsewhere", images={"trainer": TRAINER}, source=other)
    registry.release("1.2.0")
    bin_dir = tmp_path / "bin"
    out = tmp_path / "stacks"
    provisioner = TerraformProvisioner(
        settings, platform=load_platform(), out_dir=out, terraform=str(fake_terraform(bin_dir)), registry=registry
    )
    provisioner.create(spec, "1.1.0")
    before = (out / stack_name(spec) / STACK_FILE).read_text()
    for operation in (provisioner.apply_version, provisioner.plan, provisioner.create):
        with pytest.raises(
            SourceMismatch, match=r"1\.2\.0 was published from stacks sha256:0000.*\(commit 111111111111\)"
        ) as err:
            operation(spec, "1.2.0")
        assert err.value.code == "template_source_mismatch" and err.value.http_status == 409
    assert (out / stack_name(spec) / STACK_FILE).read_text() == before  # nothing synthesized over it
    assert len(calls(bin_dir)) == 4  # init, plan, apply, output: only the create on 1.1.0 ran terraform
    assert provisioner.status(spec).template_version == "1.1.0"

    # A version published before sources were recorded: what it deploys is unknown, so it is refused too.
    raw = json.loads(registry.store.read_bytes(REGISTRY_KEY))
    for entry in raw["versions"]:
        entry.pop("source")
    registry.store.write_bytes(REGISTRY_KEY, json.dumps(raw).encode())
    assert registry.get("1.1.0").source is None
    with pytest.raises(SourceMismatch, match="records no stacks source") as err:
        provisioner.apply_version(spec, "1.1.0")
    assert err.value.code == "template_source_unknown"
