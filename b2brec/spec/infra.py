"""The infrastructure part of a ClientSpec: what the per-client Terraform stack needs beyond names.

Every field has a default, so existing environment files stay valid; the defaults are the
values a new client gets and are documented on each field.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_FOLDER = re.compile(r"^(folders/)?\d{6,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
_KEY = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MEMORY = re.compile(r"^\d+(Mi|Gi)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceScaling(_Strict):
    """Instances and size of one Cloud Run service."""

    min_instances: int = Field(0, ge=0, le=100, description="Instances kept warm (0 = scale to zero).")
    max_instances: int = Field(3, ge=1, le=1000, description="Upper bound on instances (caps cost).")
    cpu: str = Field("1", description="vCPUs per instance: 1, 2, 4 or 8.")
    memory: str = Field("512Mi", description="Memory per instance, e.g. 512Mi or 2Gi.")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str) -> str:
        if value not in {"1", "2", "4", "8"}:
            raise ValueError("use one of 1, 2, 4, 8 vCPUs")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError("use a Kubernetes quantity such as 512Mi or 2Gi")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> ServiceScaling:
        if self.min_instances > self.max_instances:
            raise ValueError(f"min_instances ({self.min_instances}) exceeds max_instances ({self.max_instances})")
        return self


class ServicesScaling(_Strict):
    """Scaling of the three Cloud Run services of a client project."""

    client_app: ServiceScaling = Field(
        default_factory=lambda: ServiceScaling(min_instances=0, max_instances=3, memory="1Gi"),
        description="Business users' web app: scales to zero when idle.",
    )
    mlflow: ServiceScaling = Field(
        default_factory=lambda: ServiceScaling(min_instances=0, max_instances=2, memory="1Gi"),
        description="Tracking server: low traffic, scales to zero.",
    )
    serving: ServiceScaling = Field(
        default_factory=lambda: ServiceScaling(min_instances=1, max_instances=10, cpu="2", memory="2Gi"),
        description="Recommendation API: one warm instance (no cold start on the request path).",
    )


class BudgetSettings(_Strict):
    """Monthly budget of the client project; alerts go to ``InfraSettings.alert_emails``."""

    amount: int = Field(300, ge=1, le=10_000_000, description="Monthly amount in the billing account's currency.")
    currency: str | None = Field(None, description="ISO 4217 code; unset = the billing account's own currency.")
    thresholds: tuple[float, ...] = Field(
        (0.5, 0.9, 1.0), description="Alert when actual spend crosses these shares of the amount."
    )

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not _CURRENCY.match(value):
            raise ValueError("use an ISO 4217 currency code such as EUR or USD")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 < t <= 2 for t in value):
            raise ValueError("use one or more shares between 0 and 2, e.g. [0.5, 0.9, 1.0]")
        return tuple(sorted(set(value)))


class SqlSettings(_Strict):
    """The client's Cloud SQL PostgreSQL instance (app and MLflow databases)."""

    tier: str = Field("db-custom-1-3840", description="Machine tier; the default is 1 vCPU, 3.75 GB.")
    availability: str = Field("ZONAL", description="ZONAL, or REGIONAL for a standby in a second zone.")
    disk_gb: int = Field(20, ge=10, le=65536, description="Initial SSD size; grows automatically.")
    backup_start: str = Field("03:00", description="Daily backup window start (UTC, HH:MM), after the ETL.")

    @field_validator("availability")
    @classmethod
    def _availability(cls, value: str) -> str:
        if value not in {"ZONAL", "REGIONAL"}:
            raise ValueError("use ZONAL or REGIONAL")
        return value

    @field_validator("backup_start")
    @classmethod
    def _backup_start(cls, value: str) -> str:
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", value):
            raise ValueError("use a UTC time as HH:MM, e.g. 03:00")
        return value


class RedisSettings(_Strict):
    """The client's Memorystore for Redis instance: the Celery broker of the client app and its worker."""

    tier: str | None = Field(
        None,
        description="BASIC (one node) or STANDARD_HA (replica in a second zone, automatic failover); "
        "unset = STANDARD_HA for prod, BASIC otherwise.",
    )
    memory_gb: int = Field(1, ge=1, le=300, description="Instance size; task messages are small, 1 GB is plenty.")

    @field_validator("tier")
    @classmethod
    def _tier(cls, value: str | None) -> str | None:
        if value is not None and value not in {"BASIC", "STANDARD_HA"}:
            raise ValueError("use BASIC or STANDARD_HA")
        return value

    def resolved_tier(self, env: str) -> str:
        return self.tier or ("STANDARD_HA" if env == "prod" else "BASIC")


_ACCELERATOR = re.compile(r"^NVIDIA_[A-Z0-9_]+$")
_MACHINE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$")


class TrainingSettings(_Strict):
    """Where the client's Vertex AI pipeline jobs run (GPU, Spot VMs). Passed to the client app, which
    submits the jobs (``B2BREC_VERTEX_*``)."""

    machine_type: str = Field("n1-standard-8", description="Vertex AI machine type of each pipeline job.")
    accelerator_type: str | None = Field(
        None, description="GPU for the jobs, e.g. NVIDIA_TESLA_T4 or NVIDIA_L4; unset = CPU only."
    )
    accelerator_count: int = Field(0, ge=0, le=16, description="GPUs per replica (with accelerator_type).")
    spot: bool = Field(
        False,
        description="Run the jobs on Spot VMs (much cheaper, may be preempted: Vertex AI restarts a preempted "
        "job, and a stage resumes from its outputs: extract/vocab rerun, a run resumes at its failed stage).",
    )

    @field_validator("machine_type")
    @classmethod
    def _machine(cls, value: str) -> str:
        if not _MACHINE.match(value):
            raise ValueError("use a Compute Engine machine type such as n1-standard-8 or g2-standard-8")
        return value

    @field_validator("accelerator_type")
    @classmethod
    def _accelerator(cls, value: str | None) -> str | None:
        if value is not None and not _ACCELERATOR.match(value):
            raise ValueError("use a Vertex AI accelerator name such as NVIDIA_TESLA_T4 or NVIDIA_L4")
        return value

    @model_validator(mode="after")
    def _gpu_pair(self) -> TrainingSettings:
        if bool(self.accelerator_type) != bool(self.accelerator_count):
            raise ValueError("set accelerator_type and accelerator_count together (or neither, for CPU only)")
        return self


class InfraSettings(_Strict):
    """Per-client infrastructure choices; everything else derives from the ClientSpec's names."""

    folder_id: str | None = Field(
        None, description="Folder the project lives in (folders/123…); unset = the organisation's Clients folder."
    )
    alert_emails: dict[str, str] = Field(
        default_factory=dict, description="Budget and uptime alert recipients, keyed by a stable name (ops: …)."
    )
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    sql: SqlSettings = Field(default_factory=SqlSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    scaling: ServicesScaling = Field(default_factory=ServicesScaling)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    snapshots_keep_days: int = Field(
        30, ge=1, le=3650, description="Daily BigQuery snapshots of raw_data are kept this many days."
    )

    @field_validator("folder_id")
    @classmethod
    def _folder(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _FOLDER.match(value):
            raise ValueError("use a numeric folder id such as folders/123456789012")
        return value if value.startswith("folders/") else f"folders/{value}"

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, value: dict[str, str]) -> dict[str, str]:
        for key, email in value.items():
            if not _KEY.match(key):
                raise ValueError(f"key {key!r}: use a short lowercase name such as ops or oncall")
            if not _EMAIL.match(email):
                raise ValueError(f"{key}: {email!r} is not an email address")
        return value
