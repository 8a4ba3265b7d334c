"""Memorystore for Redis: the apps' Celery broker on GCP.

Private services access only (the VPC the stack already peers with Google's services, as Cloud SQL's
private IP), AUTH on, TLS with server authentication (port 6378, a CA unique to the instance), and
``noeviction`` (a broker must refuse a write rather than drop a queued task). The AUTH string is copied by
Terraform into a Secret Manager version, readable only by the apps' service accounts, which Cloud Run
mounts as ``B2BREC_BROKER_AUTH``; the address and CA are plain variables (``env``). The version is written
in the same apply as the instance, so the first revision never reads a secret without a version.

The instance holds only in-flight task messages (jobs keep their state in the app database and resume),
so it is replaceable: it is not deletion-protected, and a tier change (BASIC <-> STANDARD_HA) recreates it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import Token
from cdktn_provider_google.redis_instance import (
    RedisInstance,
    RedisInstanceMaintenancePolicy,
    RedisInstanceMaintenancePolicyWeeklyMaintenanceWindow,
    RedisInstanceMaintenancePolicyWeeklyMaintenanceWindowStartTime,
    RedisInstancePersistenceConfig,
)
from cdktn_provider_google.secret_manager_secret_version import SecretManagerSecretVersion
from constructs import Construct

from b2brec.broker import AUTH_ENV, CA_ENV, HOST_ENV, PORT_ENV
from modules.base import PropsError, require_labels, require_name, require_project, require_region
from modules.secrets import Secrets, SecretSpec, SecretsProps

TIERS: frozenset[str] = frozenset({"BASIC", "STANDARD_HA"})
REDIS_VERSIONS: frozenset[str] = frozenset({"REDIS_6_X", "REDIS_7_0", "REDIS_7_2"})
ACCESSOR = "roles/secretmanager.secretAccessor"


@dataclass(frozen=True, kw_only=True)
class MemorystoreProps:
    project_id: str
    region: str
    name: str
    labels: dict[str, str]
    network: str
    """VPC id with private services access (``Network.vpc.id``; the stack orders the instance after the peering)."""
    auth_secret_id: str
    """Secret Manager secret that receives the instance's AUTH string."""
    readers: tuple[str, ...]
    """IAM members (the apps' service accounts) granted ``secretAccessor`` on that secret, and nothing else."""
    tier: str = "BASIC"
    """BASIC (one node) or STANDARD_HA (a replica in another zone, automatic failover)."""
    memory_gb: int = 1
    redis_version: str = "REDIS_7_2"
    maintenance_day: str = "SUNDAY"
    maintenance_hour: int = 4
    """UTC hour of the weekly maintenance window."""


class Memorystore(Construct):
    def __init__(self, scope: Construct, id_: str, props: MemorystoreProps) -> None:
        super().__init__(scope, id_)
        where = f"memorystore {props.name!r}"
        require_project(props.project_id, where)
        require_region(props.region, where)
        require_name(props.name, where)
        labels = require_labels(props.labels, where)
        if props.tier not in TIERS:
            raise PropsError(f"{where}: tier {props.tier!r}; use BASIC or STANDARD_HA")
        if not 1 <= props.memory_gb <= 300:
            raise PropsError(f"{where}: memory_gb {props.memory_gb} must be 1..300")
        if props.redis_version not in REDIS_VERSIONS:
            raise PropsError(f"{where}: redis_version {props.redis_version!r}; use one of {sorted(REDIS_VERSIONS)}")
        if not 0 <= props.maintenance_hour <= 23:
            raise PropsError(f"{where}: maintenance_hour {props.maintenance_hour} must be 0..23")
        if not props.readers:
            raise PropsError(f"{where}: readers is empty; name the service accounts that use the broker")

        self.instance = RedisInstance(
            self,
            "instance",
            project=props.project_id,
            region=props.region,
            name=props.name,
            display_name=f"{props.name} (Celery broker)",
            tier=props.tier,
            memory_size_gb=props.memory_gb,
            redis_version=props.redis_version,
            authorized_network=props.network,
            connect_mode="PRIVATE_SERVICE_ACCESS",
            auth_enabled=True,
            transit_encryption_mode="SERVER_AUTHENTICATION",
            redis_configs={"maxmemory-policy": "noeviction"},
            persistence_config=RedisInstancePersistenceConfig(persistence_mode="RDB", rdb_snapshot_period="ONE_HOUR"),
            maintenance_policy=RedisInstanceMaintenancePolicy(
                weekly_maintenance_window=[
                    RedisInstanceMaintenancePolicyWeeklyMaintenanceWindow(
                        day=props.maintenance_day,
                        start_time=RedisInstanceMaintenancePolicyWeeklyMaintenanceWindowStartTime(
                            hours=props.maintenance_hour, minutes=0
                        ),
                    )
                ]
            ),
            labels=labels,
            deletion_protection=False,  # in-flight messages only (module docstring)
        )
        secrets = Secrets(
            self,
            "secrets",
            SecretsProps(
                project_id=props.project_id,
                region=props.region,
                labels=labels,
                secrets={
                    props.auth_secret_id: SecretSpec(
                        description=f"AUTH string of Memorystore {props.name} (written by Terraform).",
                        iam={ACCESSOR: sorted(props.readers)},
                    )
                },
            ),
        )
        self.auth_secret = secrets.secrets[props.auth_secret_id]
        self.auth_secret_id = props.auth_secret_id
        # The AUTH string is already in the state (an attribute of the instance); copying it into a version
        # adds no exposure and lets Cloud Run mount it without anyone handling the value.
        self.auth_version = SecretManagerSecretVersion(
            self, "auth_version", secret=self.auth_secret.id, secret_data=self.instance.auth_string
        )
        self.host = self.instance.host
        self.port = Token.as_string(self.instance.port)
        # every server CA of the instance (two while Google rotates them), as one PEM bundle
        self.ca_certs = f'${{join("\\n", {self.instance.fqn}.server_ca_certs[*].cert)}}'

    def env(self) -> dict[str, str]:
        """The broker's plain variables (``b2brec.broker.BrokerSettings``): address and server CA."""
        return {HOST_ENV: self.host, PORT_ENV: self.port, CA_ENV: self.ca_certs}

    def secret_env(self) -> dict[str, str]:
        """``B2BREC_BROKER_AUTH`` from the AUTH secret (its version exists once the instance does)."""
        return {AUTH_ENV: self.auth_secret_id}
