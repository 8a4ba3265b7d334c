"""Typed platform settings, read from ``B2BREC_*`` environment variables.

Every supported variable is a field below (type, default, one-line doc). Build a
``Settings`` object at start-up (``Settings()``) and pass it down; tests construct
one explicitly instead of patching ``os.environ``.

Not fields: the variables Google's libraries read themselves to reach a local emulator in tests
(``STORAGE_EMULATOR_HOST``; ``BIGQUERY_EMULATOR_HOST``, with which the BigQuery warehouse also switches to a
static token, ``b2brec.backends.warehouse.emulator_credentials``). No stack sets them: the image contract
tests refuse a stack variable that no image's settings read.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from b2brec.security.hosts import AllowList


class Backend(StrEnum):
    """Which implementation sits behind each backend boundary."""

    LOCAL = "local"
    GCP = "gcp"


def _default_home() -> Path:
    return Path.home() / ".b2brec"


class Settings(BaseSettings):
    """Platform settings. Each field maps to ``B2BREC_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix="B2BREC_", extra="ignore", frozen=True)

    backend: Backend = Field(
        Backend.LOCAL, description="local = embedded default (DuckDB, folders); gcp = Google Cloud."
    )
    home: Path = Field(
        default_factory=_default_home,
        description="Folder holding local state: client projects, secrets keys, logs.",
    )
    environments_dir: Path = Field(Path("environments"), description="Folder with one ClientSpec YAML per environment.")
    require_services: bool = Field(
        False,
        description="Fail (instead of skip) tests whose PostgreSQL/MariaDB service is missing. CI sets 1.",
    )
    log_level: str = Field("INFO", description="Python logging level for CLI and services.")
    client_spec: str | None = Field(
        None,
        description="The ClientSpec of the one client this process serves, as JSON. The client stack sets it on "
        "every Cloud Run service and job (it holds names, never a secret), so images bake no environment files.",
    )

    # --- operator-side security settings (never part of a ClientSpec a client can edit) -----
    source_hosts_allowed: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per client id, the private networks (CIDR) its database sources may use, for any host or for "
        'one name (name@network), e.g. {"acme-001": ["10.8.0.0/16", "db.vpn.acme.example@10.9.0.0/24"]} for a '
        "database reached over VPN. A bare name admits no address (its DNS is not the operator's). "
        "Everything else must be public.",
    )
    source_connect_timeout_s: float = Field(
        5.0, gt=0, le=60, description="The one timeout for connecting to a client's database (test and load)."
    )

    # --- Google Cloud (backend=gcp) -------------------------------------------------
    gcp_project: str | None = Field(None, description="Project id of the client project on GCP.")
    gcp_region: str = Field("europe-west1", description="Region for Vertex AI jobs and regional resources.")
    gcp_staging_bucket: str | None = Field(
        None, description="gs:// bucket Vertex AI uses for job staging (required for backend=gcp jobs)."
    )
    vertex_machine_type: str = Field("n1-standard-8", description="Machine type for Vertex AI CustomJobs.")
    vertex_accelerator_type: str | None = Field(
        None, description="Accelerator for trainer jobs, e.g. NVIDIA_TESLA_T4; unset = CPU only."
    )
    vertex_accelerator_count: int = Field(0, ge=0, le=16, description="Accelerators per trainer replica.")
    vertex_service_account: str | None = Field(None, description="Service account Vertex AI jobs run as.")
    vertex_spot: bool = Field(False, description="Run Vertex AI jobs on Spot VMs (cheaper; may be preempted).")
    vertex_network_attachment: str | None = Field(
        None,
        description="Network attachment (projects/P/regions/R/networkAttachments/N) Vertex AI jobs join through a "
        "Private Service Connect interface, so they reach the client's internal MLflow service.",
    )
    vertex_dns_domain: str | None = Field(
        None,
        description="DNS domain (ending in a dot, e.g. run.app.) Vertex AI jobs resolve through the client VPC's Cloud "
        "DNS (a DNS peering of their PSC interface): MLflow's run.app name reaches the VPC's private zone.",
    )
    vertex_dns_network: str | None = Field(
        None, description="Name of the client VPC (in the client project) whose Cloud DNS serves vertex_dns_domain."
    )
    trainer_image: str | None = Field(None, description="Container image URI Vertex AI jobs run.")
    mlflow_uri: str | None = Field(
        None, description="The client's MLflow tracking server URL (backend=gcp; locally the project's own server)."
    )

    @field_validator("home", "environments_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return Path(value).expanduser()

    @field_validator("source_hosts_allowed")
    @classmethod
    def _allow_list(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for client_id, entries in value.items():
            try:
                AllowList.parse(entries)
            except ValueError as exc:
                raise ValueError(f"B2BREC_SOURCE_HOSTS_ALLOWED[{client_id!r}]: {exc}") from None
        return value

    def allowed_hosts(self, client_id: str) -> tuple[str, ...]:
        """The operator's allow-list of private networks/hosts for one client (empty by default)."""
        return tuple(self.source_hosts_allowed.get(client_id, ()))

    @model_validator(mode="after")
    def _dns_peering(self) -> Settings:
        domain, network = self.vertex_dns_domain, self.vertex_dns_network
        if bool(domain) != bool(network):
            raise ValueError("set both B2BREC_VERTEX_DNS_DOMAIN and B2BREC_VERTEX_DNS_NETWORK, or neither")
        if domain and not domain.endswith("."):
            raise ValueError(f"B2BREC_VERTEX_DNS_DOMAIN={domain!r} must end with a dot (e.g. run.app.)")
        if domain and not self.vertex_network_attachment:
            raise ValueError(
                "B2BREC_VERTEX_DNS_* peer DNS over the jobs' PSC interface: set B2BREC_VERTEX_NETWORK_ATTACHMENT"
            )
        return self

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        allowed = {"DEBUG", "INFO", "WARNING", "ERROR"}
        if value.upper() not in allowed:
            raise ValueError(f"B2BREC_LOG_LEVEL={value!r}; use one of {sorted(allowed)}")
        return value.upper()

    @property
    def clients_dir(self) -> Path:
        """Where local client projects live, one folder each."""
        return self.home / "clients"
