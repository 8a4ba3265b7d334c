"""Template versions: semver, immutable content, digests only, the last three released stay
deployable, and the ``b2brec template`` commands CI runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from b2brec.backends.storage import ObjectStore
from b2brec.settings import Settings
from cli.main import app
from provisioning.templates import (
    StackSource,
    TemplateError,
    TemplateRegistry,
    TemplateStatus,
    current_source,
    default_version,
    registry_for,
    source_digest,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def registry(tmp_path: Path) -> TemplateRegistry:
    return TemplateRegistry(ObjectStore((tmp_path / "templates").as_uri()))


def test_only_the_last_three_released_versions_stay_deployable(registry: TemplateRegistry) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0", "2.0.0"):
        registry.add(version, notes=f"release {version}", images={"serving": DIGEST})
    assert registry.deployable("2.0.0").status is TemplateStatus.CANDIDATE  # a candidate goes to its test client
    retired_by = {}
    for version in ("1.0.0", "1.1.0", "1.2.0", "2.0.0"):
        _, retired = registry.release(version)
        retired_by[version] = retired
    assert retired_by == {"1.0.0": [], "1.1.0": [], "1.2.0": [], "2.0.0": ["1.0.0"]}
    assert [(v.version, v.status.value) for v in registry.list()] == [
        ("1.0.0", "retired"),
        ("1.1.0", "released"),
        ("1.2.0", "released"),
        ("2.0.0", "released"),
    ]
    with pytest.raises(TemplateError, match=r"1.0.0 is retired .* 1.1.0, 1.2.0, 2.0.0") as refused:
        registry.deployable("1.0.0")
    assert refused.value.code == "template_retired"
    with pytest.raises(TemplateError, match="retired; publish a new version"):
        registry.release("1.0.0")
    assert registry.list()[1].semver < registry.list()[-1].semver  # ordered by semver, not text
    registry.add("1.10.0")
    assert [v.version for v in registry.list()][-2:] == ["1.10.0", "2.0.0"]


def test_versions_are_validated_and_immutable(registry: TemplateRegistry) -> None:
    for bad in ("v1", "1.2", "1.2.3.4", "../1.0.0", ""):
        with pytest.raises(TemplateError, match="not a semantic version"):
            registry.add(bad)
    with pytest.raises(TemplateError, match="pin images by digest"):
        registry.add("1.0.0", images={"serving": "europe-docker.pkg.dev/p/r/serving:latest"})
    with pytest.raises(TemplateError, match="not a deployable"):
        registry.add("1.0.0", images={"miner": DIGEST})
    with pytest.raises(TemplateError, match="only B2BREC_"):
        registry.add("1.0.0", runtime={"serving": {"LD_PRELOAD": "/tmp/x.so"}})
    with pytest.raises(TemplateError, match="the provisioner sets it"):
        registry.add("1.0.0", runtime={"serving": {"B2BREC_HOME": "/other/client"}})
    with pytest.raises(TemplateError, match="secrets never go in a template"):
        registry.add("1.0.0", runtime={"serving": {"B2BREC_SERVING_ADMIN_TOKEN": "x"}})
    with pytest.raises(TemplateError, match="one line"):
        registry.add("1.0.0", runtime={"serving": {"B2BREC_SERVING_LOG_LEVEL": "INFO\nB2BREC_X=1"}})
    registry.add("1.0.0", notes="n", images={"serving": f"europe-docker.pkg.dev/p/r/serving@{DIGEST}"})
    assert registry.add("1.0.0", notes="n", images={"serving": f"europe-docker.pkg.dev/p/r/serving@{DIGEST}"})
    with pytest.raises(TemplateError, match="immutable"):
        registry.add("1.0.0", notes="other notes")
    with pytest.raises(TemplateError, match="no template version '9.9.9'") as missing:
        registry.get("9.9.9")
    assert missing.value.code == "template_not_found"


def test_a_fresh_platform_gets_a_baseline_version(registry: TemplateRegistry) -> None:
    assert default_version(registry) == "1.0.0"
    assert registry.get("1.0.0").status is TemplateStatus.RELEASED
    registry.add("1.1.0")
    assert default_version(registry) == "1.0.0"  # a candidate is not what new clients get
    registry.release("1.1.0")
    assert default_version(registry) == "1.1.0"


def test_template_cli_release_and_list(settings: Settings) -> None:
    runner = CliRunner()
    env = {"B2BREC_HOME": str(settings.home), "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir)}
    args = ["template", "release", "1.4.0", "--notes", "faster index", "--image", f"serving={DIGEST}"]
    result = runner.invoke(app, [*args, "--setting", "serving:B2BREC_SERVING_COMPUTE_THREADS=1"], env=env)
    assert result.exit_code == 0, result.output
    assert "released 1.4.0" in result.output
    result = runner.invoke(app, ["template", "release", "1.5.0-rc.1", "--candidate"], env=env)
    assert result.exit_code == 0 and "published candidate 1.5.0-rc.1" in result.output
    listed = runner.invoke(app, ["template", "list"], env=env, terminal_width=200)
    assert "1.4.0" in listed.output and "released" in listed.output and "candidate" in listed.output
    version = registry_for(settings).get("1.4.0")
    assert version.source == current_source() and f"stacks {current_source().digest[:19]}" in result.output
    assert version.runtime == {"serving": {"B2BREC_SERVING_COMPUTE_THREADS": "1"}}
    assert version.images == {"serving": DIGEST}
    bad = runner.invoke(app, ["template", "release", "1.6.0", "--setting", "serving=1"], env=env)
    assert bad.exit_code == 2 and "SERVICE:B2BREC_NAME=VALUE" in bad.output
    bad = runner.invoke(app, ["template", "release", "latest"], env=env)
    assert bad.exit_code == 2 and "not a semantic version" in bad.output


def test_the_stacks_source_is_a_digest_of_the_stacks_code(tmp_path: Path) -> None:
    import shutil

    copies = {name: tmp_path / name for name in ("stacks", "modules")}
    for name, folder in copies.items():
        shutil.copytree(REPO_ROOT / name, folder, ignore=shutil.ignore_patterns("__pycache__"))
    digest = source_digest(copies)
    assert digest == current_source().digest  # the same code gives the same digest wherever it lies
    (copies["stacks"] / "__pycache__").mkdir(exist_ok=True)
    (copies["stacks"] / "__pycache__" / "synth.cpython-311.pyc").write_bytes(b"\0compiled")
    (copies["stacks"] / "platform.yaml").write_text("org_id: '1'\n")  # the platform's settings, not the template
    assert source_digest(copies) == digest
    client = copies["stacks"] / "client_project.py"
    client.write_text(client.read_text() + "\n# a change\n")
    changed = source_digest(copies)
    assert changed != digest
    client.rename(copies["stacks"] / "client_project2.py")
    assert source_digest(copies) not in (digest, changed)  # paths count, not only contents


def test_a_version_records_its_source_and_keeps_it(registry: TemplateRegistry) -> None:
    registry.add("2.0.0", notes="n")
    registry.release("2.0.0")
    assert registry.get("2.0.0").source == current_source()  # survives the JSON round trip and the release
    registry.add("2.0.0", notes="n")  # the same content from the same code: a no-op
    other = StackSource(digest="sha256:" + "1" * 64)
    with pytest.raises(TemplateError, match="stacks source\\); versions are immutable"):
        registry.add("2.0.0", notes="n", source=other)
    with pytest.raises(TemplateError, match="not a sha256"):
        registry.add("2.1.0", source=StackSource(digest="sha256:short"))
    registry.add("2.1.0", source=other)  # a version made from another checkout (CI), recorded as given
    assert registry.get("2.1.0").source == other
