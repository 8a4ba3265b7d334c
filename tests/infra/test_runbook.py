"""The runbook's first deploy (docs/runbook.md, the ``bash first-deploy`` block), run as written by bash
for every client environment, with stand-ins on PATH for ``b2brec``, ``terraform``, ``gcloud``, ``docker``
and ``openssl`` that record their arguments (and what they read on stdin) and answer what the block reads
(``terraform output`` from the synthesized stack). gcloud, Docker and the Terraform providers cannot run
here; the recorded sequence is checked against the code and the stack: the options exist, the egress IP
is shown before the first load, every image tag is the one the stack runs, every secret exists, every
service with a sidecar is updated by container name, and the block runs to its end under ``set -euo
pipefail``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from b2brec.spec import ClientSpec, list_environments
from modules.cloud_run import CLOUD_SQL_PROXY
from stacks.client_project import trainer_image_name
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


SHIM = """#!{python}
import json, os, sys
name, args = os.path.basename(sys.argv[0]), sys.argv[1:]
data = json.loads(open(os.environ["SHIM_DATA"]).read())
record = {{"cmd": name, "argv": args}}
out, code = "", 0
if name == "terraform":  # terraform -chdir=cdktf.out/ENV output -raw NAME
    assert args[1:3] == ["output", "-raw"], args
    if args[3] in data["outputs"]:
        out = data["outputs"][args[3]]
    else:
        out, code = "Error: Output " + repr(args[3]) + " not found", 1
elif name == "openssl":
    assert args == ["rand", "-hex", "32"], args
    out = os.urandom(32).hex() + "\\n"
elif name == "gcloud" and args[:2] == ["domains", "list-user-verified"]:
    out = "".join(d + "\\n" for d in data["verified"])
elif name == "gcloud" and args[:3] == ["secrets", "versions", "add"]:
    record["stdin"] = sys.stdin.read()
elif name == "b2brec" and args[:1] == ["synth"]:
    folder = os.path.join("cdktf.out", args[args.index("--env") + 1])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "cdk.tf.json"), "w") as f:
        json.dump(data["stack"], f)
with open(os.environ["SHIM_LOG"], "a") as f:
    f.write(json.dumps(record) + "\\n")
print(out, end="", file=sys.stdout if code == 0 else sys.stderr)
sys.exit(code)
"""
SHIMMED = ("b2brec", "terraform", "gcloud", "docker", "openssl")
PASSWORD = "s3cret pw"  # noqa: S105 (what the operator types)
EGRESS_IP = "203.0.113.7"
SOURCE_RESOURCE = {"service": "google_cloud_run_v2_service", "pool": "google_cloud_run_v2_worker_pool"}


def _outputs(data: dict[str, Any]) -> dict[str, str]:
    """What ``terraform output -raw`` prints after the apply: literal values as synthesized, a plausible value
    for the attributes only Google knows (the egress address)."""
    values = {}
    for name, output in data["output"].items():
        value = output["value"]
        if isinstance(value, str):
            values[name] = EGRESS_IP if name == "egress_ip" else value if "${" not in value else f"<{name}>"
    return values


def run_block(
    tmp_path: Path, env: str, data: dict[str, Any], *, verified: list[str]
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run the block with bash for environment ``env`` (its one edit: ``ENV=``); returns the process and the
    recorded calls, in order."""
    block = _block()
    assert block.startswith("set -euo pipefail\n"), "the block must stop at the first failing command"
    assert block.count("ENV=acme-prod\n") == 1
    shims = tmp_path / "bin"
    shims.mkdir()
    for name in SHIMMED:
        (shims / name).write_text(SHIM.format(python=sys.executable))
        (shims / name).chmod(0o755)
    (tmp_path / "data.json").write_text(json.dumps({"outputs": _outputs(data), "stack": data, "verified": verified}))
    log = tmp_path / "calls.jsonl"
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        ["bash", "-c", block.replace("ENV=acme-prod\n", f"ENV={env}\n")],
        cwd=work,
        env={
            "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "SHIM_LOG": str(log),
            "SHIM_DATA": str(tmp_path / "data.json"),
        },
        input=f"{PASSWORD}\n\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, calls


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def _containers(body: dict[str, Any]) -> list[str]:
    template = body["template"]
    return [c["name"] for c in template.get("containers") or template["template"]["containers"]]


def check_first_deploy(tmp_path: Path, env: str, data: dict[str, Any], spec: ClientSpec) -> None:
    done, calls = run_block(tmp_path, env, data, verified=[d.split(".", 1)[1] for d in _mapped_domains(data)])
    assert done.returncode == 0, f"{env}: exit {done.returncode}\n{done.stderr[-3000:]}"
    argvs = [(c["cmd"], c["argv"]) for c in calls]

    def first(predicate: Any) -> int:
        return next(i for i, (cmd, argv) in enumerate(argvs) if predicate(cmd, argv))

    # order: synth, plan, apply; the egress IP shown (and confirmed) before the first load
    assert argvs[0] == ("b2brec", ["synth", "--env", env])
    plan = first(lambda c, a: c == "b2brec" and a == ["deploy", "--env", env, "--plan-only"])
    apply = first(lambda c, a: c == "b2brec" and a == ["deploy", "--env", env])
    egress = first(lambda c, a: c == "terraform" and a[-1] == "egress_ip")
    execute = first(lambda c, a: c == "gcloud" and a[:4] == ["run", "jobs", "execute", "etl"])
    assert 0 < plan < apply < egress < execute
    assert f"allow-list {EGRESS_IP}" in done.stdout
    assert all(a[0] == f"-chdir=cdktf.out/{env}" for c, a in argvs if c == "terraform")
    outputs = {a[-1] for c, a in argvs if c == "terraform"}
    assert outputs <= set(data["output"]), sorted(outputs - set(data["output"]))

    # secrets: the platform's two and each source password, all in the stack; the API key shown at the end
    project, region, registry = spec.project_id, spec.region, data["output"]["registry_url"]["value"]
    added = {
        c["argv"][3]: c["stdin"]
        for c in calls
        if c["cmd"] == "gcloud" and c["argv"][:3] == ["secrets", "versions", "add"]
    }
    sources = {s.password_secret for s in spec.sources.values() if s.password_secret}
    assert set(added) == {"serving-admin-token", "serving-api-keys"} | sources
    stack_secrets = {s["secret_id"] for s in data["resource"]["google_secret_manager_secret"].values()}
    assert set(added) <= stack_secrets
    assert all(added[s] == PASSWORD for s in sources)
    assert re.fullmatch(r"[0-9a-f]{64}", added["serving-api-keys"])
    assert done.stdout.rstrip().endswith(added["serving-api-keys"]), "show the operator the key it stored"
    assert first(lambda c, a: c == "gcloud" and a[:3] == ["secrets", "versions", "add"]) > apply

    # images: built from their Dockerfile, tagged as the stack runs them (the spec's template_version)
    built = {}
    for cmd, argv in argvs:
        if cmd == "docker" and argv[0] == "build":
            dockerfile, ref = _option(argv, "-f"), _option(argv, "-t")
            assert (REPO_ROOT / dockerfile).is_file(), dockerfile
            built[Path(dockerfile).name.removesuffix(".Dockerfile")] = ref
    pushed = {a[1] for c, a in argvs if c == "docker" and a[0] == "push"}
    assert set(built.values()) == pushed
    trainer = trainer_image_name(spec)
    assert set(built) == {"etl", "serving", "mlflow", "client-app", trainer}
    assert all(ref == f"{registry}/{name}:{spec.template_version}" for name, ref in built.items()), built
    app = next(s for s in data["resource"]["google_cloud_run_v2_service"].values() if s["name"] == "client-app")
    app_env = {e["name"]: e.get("value") for e in app["template"]["containers"][0]["env"]}
    assert built[trainer] == app_env["B2BREC_TRAINER_IMAGE"], "build the trainer image the client app submits"

    # rollouts: each Cloud Run resource of the stack gets its image; a sidecar's neighbour is named
    runs = {c.runs_as: c.dockerfile.removesuffix(".Dockerfile") for c in IMAGES.values() if c.runs_as and c.client}
    rolled = {}
    for cmd, argv in argvs:
        words = argv[1:] if argv[:1] == ["beta"] else argv
        kinds = {"services": "service", "worker-pools": "pool", "jobs": "job"}
        if cmd == "gcloud" and words[:1] == ["run"] and words[1] in kinds and words[2] == "update":
            kind, name = kinds[words[1]], words[3]
            assert (_option(words, "--region"), _option(words, "--project")) == (region, project)
            rtype = SOURCE_RESOURCE.get(kind, "google_cloud_run_v2_job")
            (body,) = [b for b in data["resource"][rtype].values() if b["name"] == name]
            containers = _containers(body)
            if len(containers) > 1:
                assert "--container" in words, (
                    f"{env}: {' '.join(argv)} must name the container (sidecars: {containers})"
                )
            if "--container" in words:
                assert _option(words, "--container") in set(containers) - {CLOUD_SQL_PROXY}
            rolled[(kind, name)] = _option(words, "--image")
    assert set(rolled) == set(runs), "roll every client image out to what runs it"
    for resource, image in runs.items():
        assert rolled[resource] == f"{registry}/{image}:{spec.template_version}", resource
    assert execute > max(i for i, (c, a) in enumerate(argvs) if c == "gcloud" and "update" in a)


def _mapped_domains(data: dict[str, Any]) -> list[str]:
    return [m["name"] for m in data["resource"].get("google_cloud_run_domain_mapping", {}).values()]


@pytest.mark.parametrize("env", list_environments(ENVIRONMENTS))
def test_first_deploy_runs_as_written(stacks: dict[str, Synthesized], env: str, tmp_path: Path) -> None:
    stack = stacks[env]
    assert stack.spec is not None
    check_first_deploy(tmp_path, env, stack.data, stack.spec)


def test_first_deploy_tags_images_with_the_spec_template_version(tmp_path: Path) -> None:
    """A template version other than v1 (every environment file is on v1): no tag is hard-coded."""
    from cdktn import Testing

    from b2brec.spec import load_environment
    from stacks.client_project import ClientProjectStack
    from stacks.platform import load_platform

    spec = load_environment(ENVIRONMENTS, "prairie-supply-dev").model_copy(update={"template_version": "v7"})
    data = json.loads(Testing.synth(ClientProjectStack(Testing.app(), "v7", spec=spec, platform=load_platform())))
    check_first_deploy(tmp_path, "prairie-supply-dev", data, spec)


def test_first_deploy_stops_before_the_apply_while_the_domain_is_unverified(
    stacks: dict[str, Synthesized], tmp_path: Path
) -> None:
    stack = stacks["demo-dev"]
    (domain,) = _mapped_domains(stack.data)
    done, calls = run_block(tmp_path, "demo-dev", stack.data, verified=["other.example.org"])
    assert done.returncode != 0
    assert f"gcloud domains verify {domain.split('.', 1)[1]}" in done.stderr
    assert not [c for c in calls if c["cmd"] == "b2brec" and c["argv"][0] == "deploy"]
