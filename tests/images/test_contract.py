"""Every Cloud Run service, job and worker pool of every synthesized stack against the image it runs: each
variable the stack sets is one the image reads, each one the image requires is set, no argument where the
entrypoint takes none, the command a worker pool runs, and no secret reference whose ``latest`` version may
not exist yet (only the broker's AUTH string, whose version the stack writes and the resource waits for)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from b2brec.spec import SPEC_ENV, list_environments, spec_from_json
from tests.images.contracts import IMAGES, PLATFORM_ENV, image_reads
from tests.images.harness import IMAGES_DIR, dockerfiles
from tests.images.harness import resolve as resolve_requirements
from tests.images.runtime import ContainerRuntime, containers, resolve, unwritten_secret_refs
from tests.synthesized import ENVIRONMENTS, Synthesized

CLIENT_STACKS = list_environments(ENVIRONMENTS)

NOT_BUILT_YET: dict[tuple[str, str], str] = {}
"""Services whose image does not exist yet: once its Dockerfile lands, this test demands its contract."""


def test_every_dockerfile_has_a_contract() -> None:
    files = {path.name for path in IMAGES_DIR.glob("*.Dockerfile")}
    assert files == {contract.dockerfile for contract in IMAGES.values()}, "add the image to tests/images/contracts.py"
    for (_, name), dockerfile in NOT_BUILT_YET.items():
        assert dockerfile not in files, f"{dockerfile} exists: add its contract to IMAGES and drop {name} here"


def test_every_run_resource_has_an_image(stacks: dict[str, Synthesized]) -> None:
    """Nothing in any stack runs an image the tests do not know."""
    known = {c.runs_as for c in IMAGES.values() if c.runs_as} | set(NOT_BUILT_YET)
    for name, stack in stacks.items():
        unknown = set(containers(name, stack.data)) - known
        assert not unknown, f"{name}: Cloud Run resources {sorted(unknown)} run no image in tests/images/contracts.py"


@pytest.mark.parametrize("image", sorted(i for i, c in IMAGES.items() if c.runs_as and c.client))
@pytest.mark.parametrize("stack_name", CLIENT_STACKS)
def test_stack_gives_the_image_exactly_what_it_reads(
    stacks: dict[str, Synthesized], stack_name: str, image: str
) -> None:
    contract = IMAGES[image]
    assert contract.runs_as is not None
    dockerfile = dockerfiles()[contract.dockerfile.removesuffix(".Dockerfile")]
    runtime = containers(stack_name, stacks[stack_name].data).get(contract.runs_as)
    assert runtime is not None, f"{stack_name}: no Cloud Run {contract.runs_as[0]} {contract.runs_as[1]!r}"
    reads, required = image_reads(contract)

    unread = sorted(set(runtime.env) - reads)
    assert not unread, f"{stack_name}/{runtime.name}: sets {unread}, which the {image} image never reads"
    platform_set = sorted(set(runtime.env) & PLATFORM_ENV)
    assert not platform_set, f"{stack_name}/{runtime.name}: sets {platform_set}, which Cloud Run sets itself"
    given = set(runtime.env) | set(runtime.secret_env)
    missing = sorted(required - given - set(dockerfile.env))
    assert not missing, f"{stack_name}/{runtime.name}: the {image} image requires {missing}; the stack does not set it"
    _check_secrets_and_command(stacks[stack_name], image, runtime)


def _check_secrets_and_command(stack: Synthesized, image: str, runtime: ContainerRuntime) -> None:
    contract = IMAGES[image]
    where = f"{stack.name}/{runtime.name}"
    unread = sorted(set(runtime.secret_env) - set(contract.secret_env))
    assert not unread, (
        f"{where}: {unread} reference a secret version; a first apply fails while the secret has none. "
        "Read secrets at run time through the secrets backend."
    )
    late = unwritten_secret_refs(runtime, stack.data)
    assert not late, f"{where}: {late} reference a secret whose version the stack does not write or wait for"
    assert runtime.command == contract.command, f"{where}: runs {runtime.command}, the contract says {contract.command}"
    if not contract.takes_args:
        assert not runtime.args, f"{where}: passes {runtime.args}; the {image} image takes none"


@pytest.mark.parametrize("stack_name", CLIENT_STACKS)
def test_spec_in_the_environment_round_trips(stacks: dict[str, Synthesized], stack_name: str) -> None:
    """What the deployables read back (after Terraform unescapes it) is the environment's spec, exactly."""
    stack = stacks[stack_name]
    for runtime in containers(stack_name, stack.data).values():
        if SPEC_ENV in runtime.env:
            text = resolve(runtime.env[SPEC_ENV], {}, where=f"{stack_name}/{runtime.name}")
            assert spec_from_json(text) == stack.spec, f"{stack_name}/{runtime.name}"


def test_no_stack_references_a_secret_version_it_does_not_write(stacks: dict[str, Synthesized]) -> None:
    """Defect 7: a service reading ``latest`` of a secret with no version fails its first apply and is tainted.
    The one secret env (the broker's AUTH string) has its version written by the same apply, and every
    resource that mounts it waits for that version."""
    for name in [*CLIENT_STACKS, "control-plane"]:
        stack = stacks[name]
        for runtime in containers(name, stack.data).values():
            late = unwritten_secret_refs(runtime, stack.data)
            assert not late, f"{name}/{runtime.name}: secret env {late} may have no version at the first revision"


def test_unwritten_secret_versions_are_caught(stacks: dict[str, Synthesized]) -> None:
    """The check above fails on a mounted secret the stack does not write, and on one it does not wait for."""
    stack = stacks["nordhandel-prod"]
    runtime = containers("nordhandel-prod", stack.data)[("service", "client-app")]
    assert runtime.secret_env and not unwritten_secret_refs(runtime, stack.data)
    no_wait = replace(runtime, depends_on=())
    assert unwritten_secret_refs(no_wait, stack.data) == sorted(runtime.secret_env)
    other = replace(
        runtime, secret_env={"X": {"secret_key_ref": {"secret": "serving-admin-token", "version": "latest"}}}
    )
    assert unwritten_secret_refs(other, stack.data) == ["X"]


@pytest.mark.parametrize("name", sorted(dockerfiles()))
def test_every_copied_path_exists_and_the_entrypoint_is_exec_form(name: str) -> None:
    dockerfile = dockerfiles()[name]
    for source in dockerfile.copies.values():
        assert (IMAGES_DIR.parent / source).exists(), f"{dockerfile.path.name}: COPY source {source} does not exist"
    assert dockerfile.entrypoint, f"{dockerfile.path.name} needs an exec-form (JSON) ENTRYPOINT"
    assert dockerfile.requirements, f"{dockerfile.path.name} installs nothing"


@pytest.mark.parametrize("image", sorted(i for i, c in IMAGES.items() if c.runs_as and not c.client))
def test_control_plane_stack_gives_its_image_exactly_what_it_reads(stacks: dict[str, Synthesized], image: str) -> None:
    contract = IMAGES[image]
    assert contract.runs_as is not None
    runtime = containers("control-plane", stacks["control-plane"].data)[contract.runs_as]
    reads, required = image_reads(contract)
    assert not sorted(set(runtime.env) - reads), sorted(set(runtime.env) - reads)
    given = set(runtime.env) | set(runtime.secret_env)
    assert not sorted(required - given - set(dockerfiles()["control-plane"].env))
    _check_secrets_and_command(stacks["control-plane"], image, runtime)


BAKED_NOWHERE = ("environments",)
"""Every client's ClientSpec: no image holds it (a spec reaches its deployable by environment, and the control
plane reads specs from its database), so no registry, the clients' or the platform's, holds another client's spec.
This is what the CKV_GCP_84 skip in .checkov.yaml (no CMEK on Artifact Registry) rests on."""
NOT_IN_CLIENT_IMAGES = ("cli", "stacks", "modules", "provisioning")
"""The operator's CLI and the platform's infrastructure code: never in an image pushed to a client's registry."""
NOT_IN_SERVING_OR_ETL = ("tensorflow", "apache-beam", "cdktn", "keras", "tf-keras")
"""Distributions (and prefixes) the serving and ETL images must not install: training code paths, Beam, cdktn."""


@pytest.mark.parametrize("name", sorted(dockerfiles()))
def test_no_image_bakes_client_specs_and_client_images_hold_no_platform_code(name: str) -> None:
    """Defect 2: the serving image copied ``environments/`` (every client's spec) and imported the CLI."""
    dockerfile = dockerfiles()[name]
    sources = {source.split("/")[0] for source in dockerfile.copies.values()}
    assert not sources & set(BAKED_NOWHERE), f"{dockerfile.path.name} copies {sorted(sources & set(BAKED_NOWHERE))}"
    assert not any("ENVIRONMENTS_DIR" in key for key in dockerfile.env), f"{dockerfile.path.name}: {dockerfile.env}"
    client = any(c.client for c in IMAGES.values() if c.dockerfile == dockerfile.path.name)
    if client:
        platform_code = sorted(sources & set(NOT_IN_CLIENT_IMAGES))
        assert not platform_code, f"{dockerfile.path.name} (pushed to every client's registry) copies {platform_code}"


@pytest.mark.parametrize("name", ["etl", "serving"])
def test_serving_and_etl_images_install_no_tensorflow_beam_or_cdktn(name: str) -> None:
    """What ``pip install ".[extra]"`` of the image resolves to (the harness's closure over pyproject.toml's extras
    and the pinned installed distributions, the set its virtualenv is built from)."""
    installed = set(resolve_requirements(dockerfiles()[name]))
    banned = sorted(d for d in installed if d in NOT_IN_SERVING_OR_ETL or d.startswith(("tensorflow", "cdktn")))
    assert not banned, f"the {name} image would install {banned}"
    assert "pydantic" in installed, sorted(installed)  # the closure is real, not trivially empty


def test_the_gpu_trainer_image_is_the_trainer_image_with_cuda_tensorflow() -> None:
    """trainer-gpu installs what trainer installs, plus TensorFlow's CUDA libraries pinned to the TensorFlow of
    constraints.txt (a different TF than the CPU image's would train a different model), and runs alike."""
    images = dockerfiles()
    cpu, gpu = images["trainer"], images["trainer-gpu"]
    pins = dict(
        line.split("==", 1) for line in (IMAGES_DIR.parent / "constraints.txt").read_text().splitlines() if "==" in line
    )
    assert f"tensorflow[and-cuda]=={pins['tensorflow']}" in gpu.requirements, gpu.requirements
    assert gpu.extras == cpu.extras and gpu.copies == cpu.copies
    assert (gpu.entrypoint, gpu.cmd, gpu.env) == (cpu.entrypoint, cpu.cmd, cpu.env)
    assert IMAGES["trainer-gpu"] == replace(IMAGES["trainer"], dockerfile="trainer-gpu.Dockerfile")
    lines = gpu.path.read_text().splitlines()
    assert any("pip uninstall -y tensorflow-cpu" in line for line in lines), "keep only the CUDA-enabled TensorFlow"
