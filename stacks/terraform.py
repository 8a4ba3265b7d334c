"""Run ``terraform init/plan/apply`` in a synthesized stack folder.

The command lines are built in one place (``commands``) so tests can check exactly what is
sent, with a recording fake ``terraform`` on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from b2brec.errors import B2BRecError

INSTALL_HINT = (
    "Install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install: HashiCorp's apt/yum "
    "repository, or unzip the release binary into a folder on PATH), or pass --terraform /path/to/terraform."
)
PLAN_FILE = "tfplan"


class TerraformMissing(B2BRecError):
    code = "terraform_missing"


class TerraformFailed(B2BRecError):
    code = "terraform_failed"


def find_terraform(explicit: str | None = None, *, search_path: str | None = None) -> str:
    """The terraform binary to run: ``explicit`` if given, else the first on PATH."""
    if explicit:
        candidate = Path(explicit).expanduser()
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            raise TerraformMissing(f"--terraform {explicit}: no executable file there. {INSTALL_HINT}")
        return str(candidate)
    found = shutil.which("terraform", path=search_path)
    if found is None:
        raise TerraformMissing(f"no `terraform` binary on PATH, so nothing can be deployed. {INSTALL_HINT}")
    return found


@dataclass(frozen=True)
class TerraformRunner:
    binary: str
    env: dict[str, str] = field(default_factory=dict)
    """Added to the environment of every terraform call (e.g. ``GOOGLE_IMPERSONATE_SERVICE_ACCOUNT``)."""

    def environment(self) -> dict[str, str]:
        return {**os.environ, "TF_IN_AUTOMATION": "1", **self.env}

    def commands(self, *, plan_only: bool) -> list[list[str]]:
        """init, plan (saved to a plan file), then apply of exactly that plan."""
        steps = [
            [self.binary, "init", "-input=false"],
            [self.binary, "plan", "-input=false", "-lock-timeout=5m", f"-out={PLAN_FILE}"],
        ]
        if not plan_only:
            steps.append([self.binary, "apply", "-input=false", "-lock-timeout=5m", PLAN_FILE])
        return steps

    def destroy_commands(self) -> list[list[str]]:
        """init, a destroy plan, then apply of exactly that plan."""
        return [
            [self.binary, "init", "-input=false"],
            [self.binary, "plan", "-destroy", "-input=false", "-lock-timeout=5m", f"-out={PLAN_FILE}"],
            [self.binary, "apply", "-input=false", "-lock-timeout=5m", PLAN_FILE],
        ]

    def run(
        self,
        workdir: Path,
        *,
        plan_only: bool,
        on_step: Callable[[str], None] | None = None,
        output: Callable[[str], None] | None = None,
        destroy: bool = False,
    ) -> None:
        """Run each step in ``workdir`` and stop at the first failure. Output streams to the terminal,
        or line by line to ``output`` (a log sink) when given."""
        if not (workdir / "cdk.tf.json").is_file():
            raise TerraformFailed(f"{workdir}: no cdk.tf.json; run `b2brec synth --env NAME` first")
        env = self.environment()
        for argv in self.destroy_commands() if destroy else self.commands(plan_only=plan_only):
            step = argv[1]
            if on_step is not None:
                on_step(step)
            if output is None:
                code = subprocess.run(argv, cwd=workdir, env=env, check=False).returncode
            else:
                code = _run_captured(argv, workdir, env, output)
            if code != 0:
                where = "see its output above" if output is None else "see the provisioning log"
                raise TerraformFailed(f"terraform {step} failed (exit {code}) in {workdir}; {where}")

    def show_json(self, workdir: Path, plan_file: str = PLAN_FILE) -> dict[str, Any]:
        """``terraform show -json PLAN``: the saved plan as Terraform's JSON plan representation."""
        done = subprocess.run(
            [self.binary, "show", "-json", plan_file],
            cwd=workdir,
            env=self.environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise TerraformFailed(f"terraform show failed (exit {done.returncode}) in {workdir}: {done.stderr[-500:]}")
        try:
            plan = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise TerraformFailed(f"terraform show -json {plan_file} in {workdir} did not print JSON") from None
        if not isinstance(plan, dict) or "format_version" not in plan:
            raise TerraformFailed(f"terraform show -json {plan_file} in {workdir} did not print a plan")
        return plan

    def output_json(self, workdir: Path) -> dict[str, Any]:
        """``terraform output -json``: each output's value by name."""
        done = subprocess.run(
            [self.binary, "output", "-json"],
            cwd=workdir,
            env=self.environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise TerraformFailed(
                f"terraform output failed (exit {done.returncode}) in {workdir}: {done.stderr[-500:]}"
            )
        try:
            raw = json.loads(done.stdout or "{}")
        except json.JSONDecodeError:
            raise TerraformFailed(f"terraform output -json in {workdir} did not print JSON") from None
        return {name: item.get("value") if isinstance(item, dict) else item for name, item in raw.items()}


def _run_captured(argv: list[str], workdir: Path, env: dict[str, str], output: Callable[[str], None]) -> int:
    output(f"$ terraform {' '.join(argv[1:])}")
    with subprocess.Popen(
        argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            output(line.rstrip("\n"))
    return process.returncode
