"""Construct tests: buckets, BigQuery datasets, Cloud SQL, secrets, registry (synth + partial properties)."""

from __future__ import annotations

import json

import pytest

from modules.artifact_registry import ArtifactRegistry, RegistryProps
from modules.base import PropsError
from modules.bigquery import RAW_TABLES, BigQueryDataset, ColumnSpec, DatasetProps, TableSpec
from modules.bucket import Bucket, BucketProps
from modules.cloud_sql import CloudSqlPostgres, CloudSqlProps
from modules.secrets import Secrets, SecretSpec, SecretsProps
from tests.infra.conftest import LABELS, PROJECT, REGION, has, only, synth_construct

SA = f"serviceAccount:trainer@{PROJECT}.iam.gserviceaccount.com"


def test_bucket_is_private_versioned_tiered_and_protected() -> None:
    data = synth_construct(
        lambda s: Bucket(
            s,
            "b",
            BucketProps(
                project_id=PROJECT,
                region=REGION,
                name=f"{PROJECT}-models",
                labels=LABELS,
                iam={"roles/storage.objectAdmin": [SA]},
            ),
        )
    )
    assert has(
        data,
        "google_storage_bucket",
        {
            "name": f"{PROJECT}-models",
            "location": "EUROPE-WEST1",
            "uniform_bucket_level_access": True,
            "public_access_prevention": "enforced",
            "versioning": {"enabled": True},
            "force_destroy": False,
            "labels": LABELS,
            "lifecycle": {"prevent_destroy": True},
        },
    )
    rules = only(data, "google_storage_bucket")["lifecycle_rule"]
    classes = [(r["action"]["type"], r["action"].get("storage_class")) for r in rules]
    # Default tiers: old versions to Nearline after 30 days, Coldline after 90; then delete beyond 5 versions.
    assert classes == [("SetStorageClass", "COLDLINE"), ("SetStorageClass", "NEARLINE"), ("Delete", None)]
    assert has(data, "google_storage_bucket_iam_member", {"role": "roles/storage.objectAdmin", "member": SA})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"iam": {"roles/storage.objectViewer": ["allUsers"]}}, "would make it public"),
        ({"iam": {"roles/editor": [SA]}}, "basic role 'roles/editor' is not allowed"),
        ({"name": "Bad_Name"}, "use 3-63 lowercase"),
        ({"labels": {"team": "x"}}, "pass spec.all_labels"),
        ({"region": "EU"}, "use a GCP region such as europe-west1"),
    ],
)
def test_bucket_refuses_bad_props_with_the_fix(change: dict, message: str) -> None:
    props = {"project_id": PROJECT, "region": REGION, "name": f"{PROJECT}-data", "labels": LABELS} | change
    with pytest.raises(PropsError, match=message):
        synth_construct(lambda s: Bucket(s, "b", BucketProps(**props)))


def test_dataset_tables_follow_the_platform_schema_with_partitioning_and_clustering() -> None:
    data = synth_construct(
        lambda s: BigQueryDataset(
            s,
            "d",
            DatasetProps(
                project_id=PROJECT,
                region=REGION,
                dataset_id="raw_data",
                labels=LABELS,
                tables=RAW_TABLES,
                iam={"roles/bigquery.dataViewer": [SA]},
            ),
        )
    )
    assert has(
        data,
        "google_bigquery_dataset",
        {"dataset_id": "raw_data", "location": REGION, "delete_contents_on_destroy": False, "labels": LABELS},
    )
    assert has(
        data,
        "google_bigquery_table",
        {
            "table_id": "transactions",
            "time_partitioning": {"type": "DAY", "field": "timestamp"},
            "clustering": ["customer_id", "product_id"],
            "deletion_protection": True,
        },
    )
    tables = {t["table_id"]: t for t in data["resource"]["google_bigquery_table"].values()}
    assert sorted(tables) == ["customers", "products", "transactions"]
    schema = {f["name"]: f for f in json.loads(tables["transactions"]["schema"])}
    assert schema["transaction_id"] == {
        "name": "transaction_id",
        "type": "STRING",
        "mode": "REQUIRED",
        "description": "Unique id of the sales line.",
    }
    assert schema["revenue"]["type"] == "FLOAT64" and schema["revenue"]["mode"] == "NULLABLE"
    assert has(data, "google_bigquery_dataset_iam_member", {"role": "roles/bigquery.dataViewer", "member": SA})


def test_dataset_refuses_partitioning_on_a_non_time_column() -> None:
    table = TableSpec(columns=(ColumnSpec(name="id", type="STRING"),), partition_field="id")
    props = DatasetProps(project_id=PROJECT, region=REGION, dataset_id="features", labels=LABELS, tables={"t": table})
    with pytest.raises(PropsError, match="partition_field 'id' must be a TIMESTAMP or DATE column"):
        synth_construct(lambda s: BigQueryDataset(s, "d", props))


def test_cloud_sql_is_private_ssl_only_backed_up_with_iam_users() -> None:
    email = f"mlflow@{PROJECT}.iam.gserviceaccount.com"
    data = synth_construct(
        lambda s: CloudSqlPostgres(
            s,
            "sql",
            CloudSqlProps(
                project_id=PROJECT,
                region=REGION,
                name="b2brec-pg",
                labels=LABELS,
                private_network="projects/p/global/networks/n",
                databases=("app", "mlflow"),
                iam_users={"mlflow": email},
            ),
        )
    )
    instance = only(data, "google_sql_database_instance")
    settings = instance["settings"]
    assert settings["ip_configuration"] == {
        "ipv4_enabled": False,
        "private_network": "projects/p/global/networks/n",
        "ssl_mode": "TRUSTED_CLIENT_CERTIFICATE_REQUIRED",
        "enable_private_path_for_google_cloud_services": True,
    }
    backup = settings["backup_configuration"]
    assert backup["enabled"] and backup["point_in_time_recovery_enabled"] and backup["location"] == REGION
    assert instance["deletion_protection"] is True and settings["deletion_protection_enabled"] is True
    flags = {f["name"]: f["value"] for f in settings["database_flags"]}
    assert flags["cloudsql.iam_authentication"] == "on"
    assert has(data, "google_sql_user", {"name": f"mlflow@{PROJECT}.iam", "type": "CLOUD_IAM_SERVICE_ACCOUNT"})
    assert sorted(d["name"] for d in data["resource"]["google_sql_database"].values()) == ["app", "mlflow"]
    assert "password" not in json.dumps(data["resource"]["google_sql_user"])


def test_cloud_sql_refuses_a_human_iam_user() -> None:
    props = CloudSqlProps(
        project_id=PROJECT,
        region=REGION,
        name="pg",
        labels=LABELS,
        private_network="n",
        iam_users={"bob": "bob@example.com"},
    )
    with pytest.raises(PropsError, match="iam user bob='bob@example.com' must be a service account email"):
        synth_construct(lambda s: CloudSqlPostgres(s, "sql", props))


def test_secrets_are_containers_replicated_in_region_with_per_secret_iam() -> None:
    accessor = "roles/secretmanager.secretAccessor"
    data = synth_construct(
        lambda s: Secrets(
            s,
            "s",
            SecretsProps(
                project_id=PROJECT,
                region=REGION,
                labels=LABELS,
                secrets={"erp-password": SecretSpec(description="ERP", iam={accessor: [SA]})},
            ),
        )
    )
    assert has(
        data,
        "google_secret_manager_secret",
        {
            "secret_id": "erp-password",
            "replication": {"user_managed": {"replicas": [{"location": REGION}]}},
            "deletion_protection": True,
        },
    )
    assert "google_secret_manager_secret_version" not in data["resource"]
    assert has(data, "google_secret_manager_secret_iam_member", {"role": accessor, "member": SA})


def test_registry_is_regional_with_cleanup_policies() -> None:
    data = synth_construct(
        lambda s: ArtifactRegistry(
            s,
            "r",
            RegistryProps(
                project_id=PROJECT,
                region=REGION,
                name="b2brec",
                labels=LABELS,
                iam={"roles/artifactregistry.reader": [SA]},
            ),
        )
    )
    repo = only(data, "google_artifact_registry_repository")
    assert repo["location"] == REGION and repo["format"] == "DOCKER"
    assert [p["id"] for p in repo["cleanup_policies"]] == ["keep-recent", "delete-old-untagged"]
    assert has(data, "google_artifact_registry_repository_iam_member", {"role": "roles/artifactregistry.reader"})
