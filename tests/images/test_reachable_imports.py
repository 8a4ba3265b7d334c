"""Every project module an image's processes can reach, even through an import inside a function, is in
the image and imports there.

The contract tests start each entrypoint, but a lazy import runs only on the day its code path does: the
client app's deploy check reads a ranked bundle (``b2brec.ranking``, scipy) and its retraining check scores
the live model with serving's code; neither ran at start-up, and both failed on Cloud Run because the
client-app image had neither. This walks the imports from each process's entry module
(``tests.images.reach``) and imports every module reached in the image's environment.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.images.harness import ImageEnv, dockerfiles
from tests.images.reach import reachable

ENTRY_MODULES: dict[str, list[str]] = {
    # gunicorn client_app.wsgi:create(); the worker pool runs celery -A client_app.worker:celery_app
    "client-app": ["client_app.wsgi", "client_app.worker"],
    # gunicorn control_plane.wsgi:app; the worker pool runs python -m control_plane.manage control-plane worker
    "control-plane": ["control_plane.wsgi", "control_plane.manage", "control_plane.worker"],
    "etl": ["b2brec.etl.__main__"],
    "serving": ["serving.__main__"],
    # Vertex AI custom jobs run `python -m <stage>` (trainer.STAGE_MODULES)
    "trainer": ["trainer.extractor.__main__", "trainer.vocab", "trainer.train", "trainer.register"],
    "mlflow": [],  # the MLflow server only; no project code
}
ENTRY_MODULES["trainer-gpu"] = ENTRY_MODULES["trainer"]

NEVER_RUN_THERE: dict[str, dict[str, str]] = {
    # module reached -> why that code path never runs in this image
    "serving": {
        "b2brec.etl": "b2brec.backends.client_admin runs the first ETL for the control plane, never in serving",
    },
    "control-plane": {
        "b2brec.ranking": "bundle validation (b2brec.bundle) runs in serving and the client app; the control plane "
        "reads no bundle",
    },
}

IMPORT_ALL = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:  # report every module, not only the first
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
"""


def test_every_image_names_its_entry_modules() -> None:
    assert sorted(ENTRY_MODULES) == sorted(dockerfiles())


def _excused(image: str, module: str) -> bool:
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in NEVER_RUN_THERE.get(image, {}))


@pytest.mark.parametrize("image", sorted(name for name, roots in ENTRY_MODULES.items() if roots))
def test_every_reachable_module_imports_in_the_image(image: str, image_envs: dict[str, ImageEnv]) -> None:
    env = image_envs[image]
    # __main__ modules and the WSGI entry modules run on import (the contract tests start those)
    modules = sorted(
        m
        for m in reachable(ENTRY_MODULES[image])
        if not m.endswith(("__main__", ".wsgi", ".manage")) and not _excused(image, m)
    )
    copied = set(env.dockerfile.project_packages)
    outside = sorted(m for m in modules if m.split(".")[0] not in copied)
    assert not outside, f"{image}: reachable modules from packages the image does not copy: {outside}"
    result = subprocess.run(
        [str(env.python), "-c", IMPORT_ALL, *modules],
        capture_output=True,
        text=True,
        cwd=env.app,
        env=env.environ({"PYTHONPATH": str(env.app), "TF_CPP_MIN_LOG_LEVEL": "3"}, env.root),
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    failed = [line for line in result.stdout.splitlines() if line.strip()]
    assert not failed, f"{image}: modules its processes can reach do not import there:\n" + "\n".join(failed)


def test_the_walk_follows_imports_inside_functions() -> None:
    """The client app reaches serving's scoring only through a function-level import (training/compare.py)."""
    assert {"serving.recommend", "serving.model.state"} <= reachable(["client_app.training.compare"])
