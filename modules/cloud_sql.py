"""Cloud SQL PostgreSQL: private IP only, SSL enforced, backups with point-in-time recovery,
IAM database authentication (no passwords anywhere), audit-friendly flags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cdktn import Fn
from cdktn_provider_google.sql_database import SqlDatabase
from cdktn_provider_google.sql_database_instance import (
    SqlDatabaseInstance,
    SqlDatabaseInstanceSettings,
    SqlDatabaseInstanceSettingsBackupConfiguration,
    SqlDatabaseInstanceSettingsBackupConfigurationBackupRetentionSettings,
    SqlDatabaseInstanceSettingsDatabaseFlags,
    SqlDatabaseInstanceSettingsInsightsConfig,
    SqlDatabaseInstanceSettingsIpConfiguration,
    SqlDatabaseInstanceSettingsMaintenanceWindow,
)
from cdktn_provider_google.sql_user import SqlUser
from constructs import Construct

from modules.base import (
    PROTECTED,
    PropsError,
    is_token,
    key,
    reference,
    require_labels,
    require_name,
    require_project,
    require_region,
)

_SA_EMAIL = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9-]+\.iam\.gserviceaccount\.com$")


def iam_user_name(email: str) -> str:
    """The PostgreSQL user of a service account (IAM auth): its email without ``.gserviceaccount.com``."""
    return email.removesuffix(".gserviceaccount.com")


DATABASE_FLAGS: dict[str, str] = {
    "cloudsql.iam_authentication": "on",
    "cloudsql.enable_pgaudit": "on",
    "log_checkpoints": "on",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_duration": "on",
    "log_hostname": "on",
    "log_lock_waits": "on",
    "log_min_duration_statement": "-1",
    "log_min_error_statement": "error",
    "log_min_messages": "error",
    "log_statement": "ddl",
    "log_temp_files": "0",
    "pgaudit.log": "role,ddl",
}
"""Flags set on every instance: IAM login, and the logging the CIS PostgreSQL benchmark asks for."""

# Clients connect through the Cloud SQL connectors (mTLS with ephemeral certificates, IAM login),
# so the instance can require client certificates: no plain or server-only TLS connection gets in.


@dataclass(frozen=True, kw_only=True)
class CloudSqlProps:
    project_id: str
    region: str
    name: str
    labels: dict[str, str]
    private_network: str
    """VPC self link/id with private services access (``Network.vpc.id``)."""
    databases: tuple[str, ...] = ("app",)
    iam_users: dict[str, str] = field(default_factory=dict)
    """Database users logging in with their service account (IAM auth), keyed by component: email."""
    iam_user_roles: tuple[str, ...] = ("cloudsqlsuperuser",)
    """Database roles granted to every IAM user. Without one an IAM user cannot create a table (PostgreSQL
    15+ gives PUBLIC no CREATE on the public schema), so MLflow's and the app's migrations fail."""
    tier: str = "db-custom-1-3840"
    availability: str = "ZONAL"
    """ZONAL, or REGIONAL for a hot standby in a second zone."""
    disk_gb: int = 20
    version: str = "POSTGRES_18"
    backup_start: str = "03:00"
    """Daily backup window start, UTC; point-in-time recovery keeps 7 days of logs."""
    backups_kept: int = 14


class CloudSqlPostgres(Construct):
    def __init__(self, scope: Construct, id_: str, props: CloudSqlProps) -> None:
        super().__init__(scope, id_)
        where = f"cloud sql {props.name!r}"
        require_project(props.project_id, where)
        require_region(props.region, where)
        require_name(props.name, where)
        labels = require_labels(props.labels, where)
        if not props.version.startswith("POSTGRES_"):
            raise PropsError(f"{where}: version {props.version!r} is not PostgreSQL; use e.g. POSTGRES_18")
        if props.availability not in {"ZONAL", "REGIONAL"}:
            raise PropsError(f"{where}: availability {props.availability!r}; use ZONAL or REGIONAL")
        if not props.databases or any(not re.match(r"^[a-z][a-z0-9_]{0,62}$", db) for db in props.databases):
            raise PropsError(f"{where}: databases {list(props.databases)} must be lowercase identifiers, at least one")
        for component, email in props.iam_users.items():
            if not _SA_EMAIL.match(email):
                raise PropsError(f"{where}: iam user {component}={email!r} must be a service account email")

        self.instance = SqlDatabaseInstance(
            self,
            "instance",
            project=props.project_id,
            region=props.region,
            name=props.name,
            database_version=props.version,
            deletion_protection=True,
            deletion_policy="PREVENT",
            lifecycle=PROTECTED,
            settings=SqlDatabaseInstanceSettings(
                tier=props.tier,
                edition="ENTERPRISE",
                availability_type=props.availability,
                disk_type="PD_SSD",
                disk_size=props.disk_gb,
                disk_autoresize=True,
                deletion_protection_enabled=True,
                user_labels=labels,
                ip_configuration=SqlDatabaseInstanceSettingsIpConfiguration(
                    ipv4_enabled=False,
                    private_network=props.private_network,
                    ssl_mode="TRUSTED_CLIENT_CERTIFICATE_REQUIRED",
                    enable_private_path_for_google_cloud_services=True,
                ),
                backup_configuration=SqlDatabaseInstanceSettingsBackupConfiguration(
                    enabled=True,
                    start_time=props.backup_start,
                    location=props.region,
                    point_in_time_recovery_enabled=True,
                    transaction_log_retention_days=7,
                    backup_retention_settings=SqlDatabaseInstanceSettingsBackupConfigurationBackupRetentionSettings(
                        retained_backups=props.backups_kept, retention_unit="COUNT"
                    ),
                ),
                maintenance_window=SqlDatabaseInstanceSettingsMaintenanceWindow(day=7, hour=4, update_track="stable"),
                insights_config=SqlDatabaseInstanceSettingsInsightsConfig(
                    query_insights_enabled=True, record_application_tags=False, record_client_address=False
                ),
                database_flags=[
                    SqlDatabaseInstanceSettingsDatabaseFlags(name=name, value=value)
                    for name, value in sorted(DATABASE_FLAGS.items())
                ],
            ),
        )
        self.connection_name = self.instance.connection_name
        self.private_ip = self.instance.private_ip_address
        self.databases = {
            name: SqlDatabase(
                self,
                key("database", name),
                project=props.project_id,
                instance=self.instance.name,
                name=name,
                deletion_policy="PREVENT",
                lifecycle=PROTECTED,
            )
            for name in sorted(props.databases)
        }
        self.users: dict[str, SqlUser] = {}
        for component in sorted(props.iam_users):
            # IAM service-account users are named by the email without ".gserviceaccount.com".
            email = reference(self, props.iam_users[component])
            self.users[component] = SqlUser(
                self,
                key("user", component),
                project=props.project_id,
                instance=self.instance.name,
                name=Fn.trimsuffix(email, ".gserviceaccount.com") if is_token(email) else iam_user_name(email),
                type="CLOUD_IAM_SERVICE_ACCOUNT",
                # IAM users start with no privileges; cloudsqlsuperuser owns the databases Terraform
                # creates (and their public schema), so membership lets the component create its tables.
                database_roles=list(props.iam_user_roles),
            )
