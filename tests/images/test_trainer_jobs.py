"""The trainer image as Vertex AI runs it: the CustomJob request the client app builds (from the
environment the client stack gives the client app), then that request's command, arguments and
environment started in the trainer image's own environment. No Vertex AI emulator exists, so the
request is asserted; the stages then run against the GCS emulator and stop at their first real
dependency (BigQuery for the extractor, the run's missing dataset in the bucket for the others)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from gcsfs.core import GCSFileSystem

from b2brec.backends.jobs import JobSpec, VertexJobRunner
from b2brec.context import context_for_spec
from b2brec.settings import Settings
from b2brec.spec import list_environments, spec_from_json
from stacks.client_project import trainer_image_name
from tests.images.conftest import NO_METADATA_SERVER, run
from tests.images.contracts import IMAGES, image_reads
from tests.images.harness import ImageEnv
from tests.images.runtime import containers, settings_from_environment
from tests.synthesized import ENVIRONMENTS, Synthesized
from trainer import STAGE_MODULES, STAGES
from trainer.pipeline import RunOptions, context_for, stage_args

CLIENT_STACKS = list_environments(ENVIRONMENTS)
MLFLOW_URL = "https://mlflow-123456789012.europe-west1.run.app"
RUN_ID = "20261130-010203-ab12"


def _client_app_settings(stack: Synthesized) -> Settings:
    """The Settings the client app builds from the environment the stack gives it (its B2BREC_* variables)."""
    runtime = containers(stack.name, stack.data)[("service", "client-app")]
    # Vertex jobs run as the trainer account, named by reference (Terraform creates it first).
    assert re.fullmatch(
        r"\$\{google_service_account\.service_accounts_trainer_[0-9A-F]{8}\.email\}",
        runtime.env["B2BREC_VERTEX_SERVICE_ACCOUNT"],
    )
    env = runtime.resolved_env(
        {
            "run_mlflow_service_66852EEC.uri": MLFLOW_URL,
            ".email": f"trainer@{stack.spec.project_id}.iam.gserviceaccount.com",  # type: ignore[union-attr]
            ".id": "x",
            # the Celery broker's instance attributes (read by b2brec.broker, not Settings)
            ".host": "10.0.0.3",
            ".port": "6378",
            ".server_ca_certs[*].cert)": "-----BEGIN CERTIFICATE-----",
        }
    )
    env["B2BREC_VERTEX_NETWORK_ATTACHMENT"] = (
        f"projects/{stack.spec.project_id}/regions/{stack.region}/networkAttachments/b2brec-vertex"  # type: ignore[union-attr]
    )
    # B2BREC_BROKER_* are read by b2brec.broker, B2BREC_APP_* by the client app's own config
    others = ("B2BREC_BROKER_", "B2BREC_APP_")
    fields = {
        key.removeprefix("B2BREC_").lower(): value
        for key, value in env.items()
        if key.startswith("B2BREC_") and not key.startswith(others)
    }
    unknown = sorted(set(fields) - set(Settings.model_fields))
    assert unknown == ["database_url"], f"client-app variables Settings does not read: {unknown}"
    fields.pop("database_url")  # the client app's own settings (not built yet) read its database URL
    return settings_from_environment({f"B2BREC_{key.upper()}": value for key, value in fields.items()})


@pytest.mark.parametrize("stack_name", CLIENT_STACKS)
def test_custom_jobs_carry_the_image_identity_network_and_machine_of_the_spec(
    stacks: dict[str, Synthesized], stack_name: str
) -> None:
    stack = stacks[stack_name]
    settings = _client_app_settings(stack)
    ctx = context_for(context_for_spec(spec_from_json(settings.client_spec), settings))
    assert isinstance(ctx.jobs, VertexJobRunner) and ctx.tracking_uri() == MLFLOW_URL
    training = stack.spec.infra.training  # type: ignore[union-attr]
    image = trainer_image_name(stack.spec)  # type: ignore[arg-type]
    assert image == ("trainer-gpu" if training.accelerator_type else "trainer")
    for stage in STAGES:
        spec = JobSpec(
            name=f"{stage}-{RUN_ID}",
            module=STAGE_MODULES[stage],
            args=stage_args(stage, ctx, RUN_ID, RunOptions()),
            env=ctx.env,
            machine=ctx.machine,
        )
        job = ctx.jobs.build_custom_job(spec)
        (pool,) = job.job_spec.worker_pool_specs
        assert pool.container_spec.image_uri.endswith(f"/b2brec/{image}:{stack.spec.template_version}")  # type: ignore[union-attr]
        assert list(pool.container_spec.command) == ["python", "-m", STAGE_MODULES[stage]]
        assert pool.machine_spec.machine_type == training.machine_type
        if training.accelerator_type:
            assert pool.machine_spec.accelerator_type.name == training.accelerator_type
            assert pool.machine_spec.accelerator_count == training.accelerator_count
        else:
            assert not pool.machine_spec.accelerator_count
        assert job.job_spec.service_account == f"trainer@{stack.spec.project_id}.iam.gserviceaccount.com"  # type: ignore[union-attr]
        assert job.job_spec.psc_interface_config.network_attachment.endswith("/networkAttachments/b2brec-vertex")
        assert (job.job_spec.scheduling.strategy.name == "SPOT") is training.spot
        # Every variable the job gets is one the image it runs reads.
        reads, _ = image_reads(IMAGES[image])
        assert {e.name for e in pool.container_spec.env} <= reads


def test_an_environment_trains_on_a_spot_gpu(stacks: dict[str, Synthesized]) -> None:
    """prairie-supply-dev asks for an L4 on Spot VMs: spec -> stack -> client app -> CustomJob request carries both,
    and the job runs the image with CUDA TensorFlow."""
    stack = stacks["prairie-supply-dev"]
    training = stack.spec.infra.training  # type: ignore[union-attr]
    assert (training.machine_type, training.accelerator_type, training.accelerator_count, training.spot) == (
        "g2-standard-8",
        "NVIDIA_L4",
        1,
        True,
    )
    settings = _client_app_settings(stack)
    ctx = context_for(context_for_spec(spec_from_json(settings.client_spec), settings))
    assert isinstance(ctx.jobs, VertexJobRunner)
    job = ctx.jobs.build_custom_job(
        JobSpec(
            name=f"train-{RUN_ID}",
            module=STAGE_MODULES["train"],
            args=stage_args("train", ctx, RUN_ID, RunOptions()),
            env=ctx.env,
            machine=ctx.machine,
        )
    )
    (pool,) = job.job_spec.worker_pool_specs
    assert pool.machine_spec.machine_type == "g2-standard-8"
    assert pool.machine_spec.accelerator_type.name == "NVIDIA_L4" and pool.machine_spec.accelerator_count == 1
    assert job.job_spec.scheduling.strategy.name == "SPOT"
    assert job.job_spec.scheduling.restart_job_on_worker_restart is True
    assert pool.container_spec.image_uri.endswith(f"/b2brec/trainer-gpu:{stack.spec.template_version}")  # type: ignore[union-attr]


def test_spot_and_gpus_reach_the_request() -> None:
    runner = VertexJobRunner(
        project="client-x-prod", region="europe-west4", image_uri="r/trainer:v1", staging_bucket="gs://s", spot=True
    )
    from b2brec.backends.jobs import MachineSpec

    job = runner.build_custom_job(
        JobSpec(
            name="train-1",
            module="trainer.train",
            machine=MachineSpec(machine_type="g2-standard-8", accelerator_type="NVIDIA_L4", accelerator_count=1),
        )
    )
    (pool,) = job.job_spec.worker_pool_specs
    assert pool.machine_spec.accelerator_type.name == "NVIDIA_L4" and pool.machine_spec.accelerator_count == 1
    assert job.job_spec.scheduling.strategy.name == "SPOT"
    assert job.job_spec.scheduling.restart_job_on_worker_restart is True
    assert not job.job_spec.psc_interface_config.network_attachment


@pytest.mark.slow
def test_stage_commands_start_in_the_trainer_image(
    stacks: dict[str, Synthesized], image_envs: dict[str, ImageEnv], gcs_emulator: str, tmp_path: Path
) -> None:
    stack = stacks["prairie-supply-dev"]
    settings = _client_app_settings(stack)
    ctx = context_for(context_for_spec(spec_from_json(settings.client_spec), settings))
    fs = GCSFileSystem(endpoint_url=gcs_emulator, token="anon")  # noqa: S106
    for purpose in ("data", "models"):
        if not fs.exists(stack.spec.bucket(purpose)):  # type: ignore[union-attr]
            fs.mkdir(stack.spec.bucket(purpose))  # type: ignore[union-attr]
    outputs: dict[str, Any] = {}
    for stage in ("extract", "vocab", "train", "register"):
        job = ctx.jobs.build_custom_job(
            JobSpec(
                name=stage,
                module=STAGE_MODULES[stage],
                args=stage_args(stage, ctx, RUN_ID, RunOptions()),
                env=ctx.env,
                machine=ctx.machine,
            )
        )
        (pool,) = job.job_spec.worker_pool_specs
        env = {e.name: e.value for e in pool.container_spec.env}
        command = (*pool.container_spec.command, *pool.container_spec.args)
        result = run(
            image_envs["trainer"],
            {**env, "STORAGE_EMULATOR_HOST": gcs_emulator, **NO_METADATA_SERVER},
            tmp_path / stage,
            command=command,
        )
        outputs[stage] = result.stdout + result.stderr
        assert result.returncode != 0
        assert "ModuleNotFoundError" not in outputs[stage] and "usage:" not in outputs[stage], outputs[stage][-3000:]
    # extract: past its arguments, it opens the warehouse (BigQuery, no emulator)
    assert "DefaultCredentialsError" in outputs["extract"] or "bigquery" in outputs["extract"].lower()
    # vocab and register: they read the run's outputs from the emulated buckets, which do not exist yet
    assert "STAGE_ERROR:" in outputs["vocab"] and f"datasets/{RUN_ID}" in outputs["vocab"], outputs["vocab"][-2000:]
    assert "STAGE_ERROR:" in outputs["register"] and "run the train stage" in outputs["register"]
    # train: past its arguments and imports (MLflow; TensorFlow is imported lazily by the fit), it reads the
    # run's dataset metadata from the emulated data bucket, which the extract stage has not written
    train = outputs["train"]
    assert "STAGE_ERROR:" in train and f"datasets/{RUN_ID}/metadata.json is missing" in train, train[-2000:]
    assert "run the extract stage" in train and "Traceback" not in train, train[-3000:]
