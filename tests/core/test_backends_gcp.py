"""GCP backends are tested by the requests they build; nothing here reaches Google Cloud."""

from __future__ import annotations

from datetime import date

from google.cloud import aiplatform_v1, bigquery

from b2brec.backends.jobs import JobSpec, MachineSpec, VertexJobRunner
from b2brec.backends.secrets import SecretManagerStore
from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import BigQueryWarehouse


def test_vertex_custom_job_carries_image_args_machine_and_gpus() -> None:
    runner = VertexJobRunner(
        project="client-acme-prod",
        region="europe-west4",
        image_uri="europe-docker.pkg.dev/p/r/trainer:1.2.0",
        staging_bucket="gs://client-acme-prod-staging",
        service_account="trainer@client-acme-prod.iam.gserviceaccount.com",
        labels={"client_id": "acme"},
    )
    spec = JobSpec(
        name="train",
        module="trainer.train",
        args=("--dataset", "gs://b/datasets/r1"),
        env={"TF_USE_LEGACY_KERAS": "1"},
        machine=MachineSpec(machine_type="n1-standard-16", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=2),
    )
    job = runner.build_custom_job(spec)
    assert runner.parent == "projects/client-acme-prod/locations/europe-west4"
    pool = job.job_spec.worker_pool_specs[0]
    assert pool.machine_spec.machine_type == "n1-standard-16"
    assert pool.machine_spec.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_TESLA_T4
    assert pool.machine_spec.accelerator_count == 2
    assert list(pool.container_spec.command) == ["python", "-m", "trainer.train"]
    assert list(pool.container_spec.args) == ["--dataset", "gs://b/datasets/r1"]
    assert pool.container_spec.env[0].name == "TF_USE_LEGACY_KERAS"
    assert job.job_spec.service_account.startswith("trainer@")
    assert job.job_spec.base_output_directory.output_uri_prefix == "gs://client-acme-prod-staging/jobs/train"
    assert job.labels["client_id"] == "acme"


def test_vertex_cpu_job_has_no_accelerator() -> None:
    runner = VertexJobRunner(project="p", region="us-central1", image_uri="img", staging_bucket="gs://s")
    job = runner.build_custom_job(JobSpec(name="extract", module="trainer.extractor"))
    assert job.job_spec.worker_pool_specs[0].machine_spec.accelerator_count == 0


def test_bigquery_query_parameters_are_typed() -> None:
    warehouse = BigQueryWarehouse("client-acme-prod", "EU", client=object())
    config = warehouse.job_config({"cutoff": date(2026, 11, 1), "days": 90, "coverage": 0.8, "city": "Lyon"})
    params = {p.name: p for p in config.query_parameters}
    assert isinstance(params["cutoff"], bigquery.ScalarQueryParameter)
    assert (params["cutoff"].type_, params["days"].type_, params["coverage"].type_, params["city"].type_) == (
        "DATE",
        "INT64",
        "FLOAT64",
        "STRING",
    )
    assert config.labels == {"component": "b2brec"}


def test_secret_manager_requests_name_the_project_secret() -> None:
    store = SecretManagerStore("client-acme-prod", client=object())
    add = store.add_version_request("erp-password", "pw")
    assert add.parent == "projects/client-acme-prod/secrets/erp-password"
    assert add.payload.data == b"pw"
    access = store.access_request("erp-password")
    assert access.name == "projects/client-acme-prod/secrets/erp-password/versions/latest"


def test_gcs_object_store_addresses_the_bucket() -> None:
    import gcsfs

    store = ObjectStore("gs://client-acme-prod-models", fs=gcsfs.GCSFileSystem(token="anon"))
    assert store.url("v3/serving/manifest.json") == "gs://client-acme-prod-models/v3/serving/manifest.json"
    assert store._path("v3/serving") == "client-acme-prod-models/v3/serving"
