"""Run ``terraform init/plan/apply`` in a synthesized stack folder.

The command lines are built in one place (``commands``) so tests can check exactly what is
sent, with a recording fake ``terraform`` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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

    def commands(self, *, plan_only: bool) -> list[list[str]]:
        """init, plan (saved to a plan file), then apply of exactly that plan."""
        steps = [
            [self.binary, "init", "-input=false"],
            [self.binary, "plan", "-input=false", "-lock-timeout=5m", f"-out={PLAN_FILE}"],
        ]
        if not plan_only:
            steps.append([self.binary, "apply", "-input=false", "-lock-timeout=5m", PLAN_FILE])
        return steps

    def run(self, workdir: Path, *, plan_only: bool, on_step: Callable[[str], None] | None = None) -> None:
        """Run each step in ``workdir``; output streams to the terminal; stop at the first failure."""
        if not (workdir / "cdk.tf.json").is_file():
            raise TerraformFailed(f"{workdir}: no cdk.tf.json; run `b2brec synth --env NAME` first")
        env = {**os.environ, "TF_IN_AUTOMATION": "1"}
        for argv in self.commands(plan_only=plan_only):
            step = argv[1]
            if on_step is not None:
                on_step(step)
            completed = subprocess.run(argv, cwd=workdir, env=env, check=False)
            if completed.returncode != 0:
                raise TerraformFailed(
                    f"terraform {step} failed (exit {completed.returncode}) in {workdir}; see its output above"
                )
