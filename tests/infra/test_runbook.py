"""The runbook's first deploy (docs/runbook.md, the ``bash first-deploy`` block) against what the code
and the synthesized stacks really have: every command option exists, every ``terraform output`` it
reads is an output of a client stack, every secret it fills exists, every image it builds has a
Dockerfile, and every service or job it updates is in the stack and runs that image. (gcloud,
terraform and Docker cannot run here; this is what can be checked of "works as written".)"""

from __future__ import annotations

import re
import subprocess
import sys

from b2brec.spec import list_environments
from tests.images.contracts import IMAGES
from tests.infra.conftest import ENVIRONMENTS, REPO_ROOT, Synthesized

RUNBOOK = REPO_ROOT / "docs" / "runbook.md"


def _block() -> str:
    text = RUNBOOK.read_text()
    match = re.search(r"```bash first-deploy\n(.*?)```", text, re.S)
    assert match, "docs/runbook.md lost its ```bash first-deploy block"
    return match.group(1)


def test_cli_commands_and_options_exist() -> None:
    block = _block()
    for command in ("synth", "deploy"):
        shown = subprocess.run(
            [sys.executable, "-m", "cli.main", command, "--help"], capture_output=True, text=True, timeout=120
        )
        assert shown.returncode == 0, shown.stderr
        used = set(re.findall(rf"b2brec {command} ((?:--[a-z-]+(?: \"?\$\w+\"?)? ?)+)", block))
        for options in used:
            for option in re.findall(r"--[a-z-]+", options):
                assert option in shown.stdout, f"b2brec {command} has no {option}"
    assert "terraform -chdir=cdktf.out/$ENV" in block  # where `b2brec synth/deploy` write (cli/infra.py DEFAULT_OUT)
    from cli.infra import DEFAULT_OUT

    assert str(DEFAULT_OUT) == "cdktf.out"


def test_outputs_secrets_images_and_services_exist(stacks: dict[str, Synthesized]) -> None:
    block = _block()
    outputs = set(re.findall(r"\$OUT (\w+)", block))
    assert {"project_id", "region", "registry_url", "egress_ip"} <= outputs
    secrets = set(re.findall(r"gcloud secrets versions add ([\w-]+)", block))
    images = set(re.search(r"for image in ([\w -]+); do", block).group(1).split())  # type: ignore[union-attr]
    services = set(re.findall(r"gcloud run services update ([\w-]+) --image \"\$REGISTRY/([\w-]+):", block))
    jobs = set(re.findall(r"gcloud run jobs update ([\w-]+) --image \"\$REGISTRY/([\w-]+):", block))
    pools = set(re.findall(r"gcloud run worker-pools update ([\w-]+) --image \"\$REGISTRY/([\w-]+):", block))
    built = {c.dockerfile.removesuffix(".Dockerfile") for c in IMAGES.values() if c.client}
    assert images == built, "build every client image, and only those"
    runs = {
        contract.runs_as: contract.dockerfile.removesuffix(".Dockerfile")
        for contract in IMAGES.values()
        if contract.runs_as and contract.client
    }
    rolled = {(("service", s), i) for s, i in services} | {(("job", j), i) for j, i in jobs}
    assert rolled | {(("pool", p), i) for p, i in pools} == set(runs.items())
    for name in list_environments(ENVIRONMENTS):
        stack = stacks[name]
        assert outputs <= set(stack.data["output"]), f"{name}: outputs {sorted(outputs - set(stack.data['output']))}"
        stack_secrets = {s["secret_id"] for s in stack.resources("google_secret_manager_secret").values()}
        platform_secrets = secrets - {"erp-password"}  # the example source secret; each spec names its own
        assert platform_secrets <= stack_secrets, name
        service_names = {s["name"] for s in stack.resources("google_cloud_run_v2_service").values()}
        job_names = {j["name"] for j in stack.resources("google_cloud_run_v2_job").values()}
        assert {s for s, _ in services} <= service_names and {j for j, _ in jobs} <= job_names
    assert "erp-password" in {
        s["secret_id"] for s in stacks["template-dev"].resources("google_secret_manager_secret").values()
    }
