"""``b2brec synth`` and ``b2brec deploy``: deterministic output, clear errors, and the exact
terraform command lines sent (checked with a recording fake ``terraform`` on PATH)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from stacks.platform import PlatformConfig
from stacks.synth import IMPORTS_FILE, STACK_FILE, SynthError, resolve_targets, synthesize
from stacks.terraform import TerraformMissing, TerraformRunner, find_terraform
from tests.infra.conftest import ENVIRONMENTS, REPO_ROOT

runner = CliRunner()


def _env(tmp_path: Path, path: str) -> dict[str, str]:
    return {"B2BREC_HOME": str(tmp_path / "home"), "B2BREC_ENVIRONMENTS_DIR": str(ENVIRONMENTS), "PATH": path}


def _fake_terraform(folder: Path, log: Path, fail_on: str = "") -> Path:
    """A ``terraform`` that appends ``cwd|argv`` to ``log`` and fails on the ``fail_on`` sub-command."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "terraform"
    script.write_text(
        f'#!/bin/sh\nprintf "%s|%s\\n" "$PWD" "$*" >> "{log}"\n[ "$1" = "{fail_on}" ] && exit 3\nexit 0\n'
    )
    script.chmod(0o755)
    return script


def test_synth_is_byte_identical_for_identical_input(synth_dir: Path, platform: PlatformConfig, tmp_path: Path) -> None:
    again = tmp_path / "again"
    synthesize(resolve_targets(ENVIRONMENTS, all_=True), platform, again)
    for folder in sorted(synth_dir.iterdir()):
        for name in (STACK_FILE, IMPORTS_FILE):
            first = folder / name
            if first.exists():
                assert first.read_bytes() == (again / folder.name / name).read_bytes(), f"{folder.name}/{name}"
    assert (synth_dir / "control-plane" / IMPORTS_FILE).exists()  # the state bucket is adopted, not created


def test_synth_cli_in_a_fresh_process_writes_the_same_bytes(synth_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, **_env(tmp_path, os.environ["PATH"])}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "synth", "--env", "prairie-supply-dev", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["prairie-supply-dev"]
    written = (out / "prairie-supply-dev" / STACK_FILE).read_bytes()
    assert written == (synth_dir / "prairie-supply-dev" / STACK_FILE).read_bytes()


def test_synth_cli_names_unknown_stacks_and_lists_the_choices(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "--env", "nope-dev", "--out", str(tmp_path)], env=_env(tmp_path, ""))
    assert result.exit_code == 2
    assert "unknown stack 'nope-dev'" in result.output and "control-plane" in result.output
    with pytest.raises(SynthError, match="pass --env NAME"):
        resolve_targets(ENVIRONMENTS)


def test_deploy_without_terraform_stops_with_how_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "out"
    result = runner.invoke(app, ["deploy", "--env", "demo-dev", "--out", str(out)], env=_env(tmp_path, str(empty)))
    assert result.exit_code == 2
    assert "no `terraform` binary on PATH" in result.output and "Install Terraform" in result.output
    assert not out.exists()  # it stopped before synthesizing
    with pytest.raises(TerraformMissing, match="--terraform /nowhere/terraform: no executable file there"):
        find_terraform("/nowhere/terraform")


def test_deploy_runs_init_plan_apply_in_the_stack_folder(tmp_path: Path) -> None:
    log = tmp_path / "argv.log"
    _fake_terraform(tmp_path / "bin", log)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["deploy", "--env", "demo-dev", "--out", str(out)], env=_env(tmp_path, str(tmp_path / "bin"))
    )
    assert result.exit_code == 0, result.output
    workdir = out / "demo-dev"
    assert (workdir / STACK_FILE).is_file()
    assert log.read_text().splitlines() == [
        f"{workdir}|init -input=false",
        f"{workdir}|plan -input=false -lock-timeout=5m -out=tfplan",
        f"{workdir}|apply -input=false -lock-timeout=5m tfplan",
    ]


def test_deploy_plan_only_never_applies_and_a_failed_step_stops_the_run(tmp_path: Path) -> None:
    log = tmp_path / "argv.log"
    fake = _fake_terraform(tmp_path / "bin", log)
    out = tmp_path / "out"
    args = ["deploy", "--env", "org", "--plan-only", "--out", str(out), "--terraform", str(fake)]
    result = runner.invoke(app, args, env=_env(tmp_path, ""))
    assert result.exit_code == 0, result.output
    assert [line.split("|")[1].split()[0] for line in log.read_text().splitlines()] == ["init", "plan"]

    log.unlink()
    failing = _fake_terraform(tmp_path / "bin2", log, fail_on="plan")
    with pytest.raises(Exception, match=r"terraform plan failed \(exit 3\)"):
        TerraformRunner(str(failing)).run(out / "org", plan_only=False)
    assert [line.split("|")[1].split()[0] for line in log.read_text().splitlines()] == ["init", "plan"]
