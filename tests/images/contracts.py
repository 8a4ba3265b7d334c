"""What each image reads at start, and where the synthesized stacks run it.

Adding a deployable is one entry in ``IMAGES``: its Dockerfile, the settings classes its
entrypoint builds (every field is a variable it reads), any other variable its entrypoint reads,
the ones it cannot start without, and the Cloud Run resource that runs it. The contract tests
then check every synthesized stack against it, and start the image with what the stack gives.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from typing import Any

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from b2brec.broker import AUTH_ENV, CA_ENV, HOST_ENV, PORT_ENV
from b2brec.spec import SPEC_ENV

PLATFORM_ENV: frozenset[str] = frozenset({"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "CLOUD_RUN_JOB"})
"""Variables Cloud Run sets itself; an image may read them, a stack never sets them."""


@dataclass(frozen=True)
class ImageContract:
    dockerfile: str
    """File name under images/."""
    settings: tuple[str, ...]
    """``module:Class`` of each pydantic-settings class the entrypoint builds at start."""
    env: tuple[str, ...] = ()
    """Other variables the entrypoint reads (shell entrypoints, third-party servers)."""
    required: tuple[str, ...] = ()
    """Variables without which the entrypoint cannot start on GCP."""
    runs_as: tuple[str, str] | None = None
    """``(resource type, name)`` of what runs it in a client stack: ``("service", "serving")`` or ``("job", "etl")``;
    None for images launched by a job runner (Vertex AI) rather than Terraform."""
    takes_args: bool = False
    """Whether the stack may pass arguments (the entrypoints here are configured by environment only)."""
    client: bool = True
    """Part of every client project (False: the platform's control-plane stack)."""
    command: tuple[str, ...] = ()
    """What the stack runs instead of the Dockerfile's ENTRYPOINT (a worker from a web app's image)."""
    secret_env: tuple[str, ...] = ()
    """Variables the stack may mount from a secret: only one whose version the stack writes itself, and the
    resource waits for (the Memorystore AUTH string), so a first revision never lacks it."""


BROKER_REQUIRED = (HOST_ENV, PORT_ENV, CA_ENV, AUTH_ENV)
"""On GCP both apps' web side and worker need the Memorystore broker (b2brec.broker), or Celery has no queue."""
CLIENT_APP_SETTINGS = ("b2brec.settings:Settings", "client_app.config:AppConfig", "b2brec.broker:BrokerSettings")
CONTROL_PLANE_SETTINGS = (
    "b2brec.settings:Settings",
    "control_plane.settings:ControlPlaneSettings",
    "b2brec.broker:BrokerSettings",
)

TRAINER = ImageContract(
    "trainer.Dockerfile",
    settings=("b2brec.settings:Settings",),
    env=("TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL"),
    runs_as=None,  # Vertex AI CustomJobs built by VertexJobRunner: tests/images/test_trainer_jobs.py
    takes_args=True,
)

IMAGES: dict[str, ImageContract] = {
    "etl": ImageContract(
        "etl.Dockerfile",
        settings=("b2brec.settings:Settings",),
        required=("B2BREC_BACKEND", SPEC_ENV),
        runs_as=("job", "etl"),
    ),
    "serving": ImageContract(
        "serving.Dockerfile",
        settings=("b2brec.settings:Settings", "serving.config:ServingSettings"),
        env=("PORT",),
        required=("B2BREC_BACKEND", SPEC_ENV),
        runs_as=("service", "serving"),
    ),
    "mlflow": ImageContract(
        "mlflow.Dockerfile",
        settings=(),
        # images/mlflow-entrypoint.sh, and MLflow's own host check
        env=(
            "MLFLOW_BACKEND_STORE_URI",
            "MLFLOW_ARTIFACTS_DESTINATION",
            "MLFLOW_HOST",
            "MLFLOW_WORKERS",
            "MLFLOW_SERVER_ALLOWED_HOSTS",
            "PORT",
        ),
        required=("MLFLOW_BACKEND_STORE_URI", "MLFLOW_ARTIFACTS_DESTINATION"),
        runs_as=("service", "mlflow"),
    ),
    "trainer": TRAINER,
    # the same stages with TensorFlow's CUDA libraries, for environments with a GPU (stacks/client_project.py)
    "trainer-gpu": replace(TRAINER, dockerfile="trainer-gpu.Dockerfile"),
    "control-plane": ImageContract(
        "control-plane.Dockerfile",
        settings=CONTROL_PLANE_SETTINGS,
        env=("PORT",),
        required=BROKER_REQUIRED,
        runs_as=("service", "control-plane"),
        client=False,
        secret_env=(AUTH_ENV,),
    ),
    "control-plane-worker": ImageContract(
        "control-plane.Dockerfile",
        settings=CONTROL_PLANE_SETTINGS,
        required=BROKER_REQUIRED,
        runs_as=("pool", "control-plane-worker"),
        client=False,
        command=("python", "-m", "control_plane.manage", "control-plane", "worker"),
        secret_env=(AUTH_ENV,),
    ),
    "client-app": ImageContract(
        "client-app.Dockerfile",
        settings=CLIENT_APP_SETTINGS,
        env=("PORT",),
        required=("B2BREC_BACKEND", SPEC_ENV, *BROKER_REQUIRED),
        runs_as=("service", "client-app"),
        secret_env=(AUTH_ENV,),
    ),
    "client-app-worker": ImageContract(
        "client-app.Dockerfile",
        settings=CLIENT_APP_SETTINGS,
        required=("B2BREC_BACKEND", SPEC_ENV, *BROKER_REQUIRED),
        runs_as=("pool", "client-app-worker"),
        command=(
            "celery",
            "-A",
            "client_app.worker:celery_app",
            "worker",
            "--beat",
            "--schedule=/tmp/celerybeat-schedule",
            "--pool=threads",
            "--concurrency=2",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ),  # fmt: skip
        secret_env=(AUTH_ENV,),
    ),
}


def _settings_class(path: str) -> type[BaseSettings]:
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, BaseSettings), f"{path} is not a pydantic-settings class"
    return cls


def settings_env(cls: type[BaseSettings]) -> tuple[set[str], set[str]]:
    """``(every variable the class reads, the ones it requires)`` (upper-case, as Cloud Run sets them)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    reads: set[str] = set()
    required: set[str] = set()
    for name, info in cls.model_fields.items():
        alias: Any = info.validation_alias
        if isinstance(alias, AliasChoices):
            # env names match case-insensitively, so every string choice is a variable it reads
            names = {str(choice).upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names = {alias.upper()}
        else:
            names = {f"{prefix}{name}".upper()}
        reads |= names
        if info.is_required():
            required |= names
    return reads, required


def image_reads(contract: ImageContract) -> tuple[set[str], set[str]]:
    """``(variables the image reads, variables it requires)``."""
    reads, required = set(contract.env), set(contract.required)
    for path in contract.settings:
        class_reads, class_required = settings_env(_settings_class(path))
        reads |= class_reads
        required |= class_required
    return reads, required
