"""Every Cloud Run service and job of every synthesized stack against the image it runs: each variable
the stack sets is one the image reads, each one the image requires is set, no argument where the
entrypoint takes none, and no secret reference (a ``latest`` version that may not exist yet)."""

from __future__ import annotations

import pytest

from b2brec.spec import SPEC_ENV, list_environments, spec_from_json
from tests.images.contracts import IMAGES, PLATFORM_ENV, image_reads
from tests.images.harness import IMAGES_DIR, dockerfiles
from tests.images.runtime import containers, resolve
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
    dockerfile = dockerfiles()[image]
    runtime = containers(stack_name, stacks[stack_name].data).get(contract.runs_as)
    assert runtime is not None, f"{stack_name}: no Cloud Run {contract.runs_as[0]} {contract.runs_as[1]!r}"
    reads, required = image_reads(contract)

    unread = sorted(set(runtime.env) - reads)
    assert not unread, f"{stack_name}/{runtime.name}: sets {unread}, which the {image} image never reads"
    platform_set = sorted(set(runtime.env) & PLATFORM_ENV)
    assert not platform_set, f"{stack_name}/{runtime.name}: sets {platform_set}, which Cloud Run sets itself"
    missing = sorted(required - set(runtime.env) - set(dockerfile.env))
    assert not missing, f"{stack_name}/{runtime.name}: the {image} image requires {missing}; the stack does not set it"
    assert not runtime.secret_env, (
        f"{stack_name}/{runtime.name}: {sorted(runtime.secret_env)} reference a secret version; a first apply "
        "fails while the secret has none. Read secrets at run time through the secrets backend."
    )
    if not contract.takes_args:
        assert not runtime.args, f"{stack_name}/{runtime.name}: passes {runtime.args}; the {image} image takes none"


@pytest.mark.parametrize("stack_name", CLIENT_STACKS)
def test_spec_in_the_environment_round_trips(stacks: dict[str, Synthesized], stack_name: str) -> None:
    """What the deployables read back (after Terraform unescapes it) is the environment's spec, exactly."""
    stack = stacks[stack_name]
    for runtime in containers(stack_name, stack.data).values():
        if SPEC_ENV in runtime.env:
            text = resolve(runtime.env[SPEC_ENV], {}, where=f"{stack_name}/{runtime.name}")
            assert spec_from_json(text) == stack.spec, f"{stack_name}/{runtime.name}"


def test_no_client_stack_references_a_secret_version(stacks: dict[str, Synthesized]) -> None:
    """Defect 7: a service reading ``latest`` of a secret with no version fails its first apply and is tainted."""
    for name in CLIENT_STACKS:
        stack = stacks[name]
        for runtime in containers(name, stack.data).values():
            assert not runtime.secret_env, f"{name}/{runtime.name}: secret env {sorted(runtime.secret_env)}"


@pytest.mark.parametrize("name", sorted(dockerfiles()))
def test_every_copied_path_exists_and_the_entrypoint_is_exec_form(name: str) -> None:
    dockerfile = dockerfiles()[name]
    for source in dockerfile.copies.values():
        assert (IMAGES_DIR.parent / source).exists(), f"{dockerfile.path.name}: COPY source {source} does not exist"
    assert dockerfile.entrypoint, f"{dockerfile.path.name} needs an exec-form (JSON) ENTRYPOINT"
    assert dockerfile.requirements, f"{dockerfile.path.name} installs nothing"


def test_control_plane_stack_gives_its_image_exactly_what_it_reads(stacks: dict[str, Synthesized]) -> None:
    contract = IMAGES["control-plane"]
    assert contract.runs_as is not None
    runtime = containers("control-plane", stacks["control-plane"].data)[contract.runs_as]
    reads, required = image_reads(contract)
    assert not sorted(set(runtime.env) - reads), sorted(set(runtime.env) - reads)
    assert not sorted(required - set(runtime.env) - set(dockerfiles()["control-plane"].env))
    assert not runtime.secret_env, sorted(runtime.secret_env)
    assert not runtime.args
