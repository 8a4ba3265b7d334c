"""The platform's own settings (organisation, billing, state bucket): what the org and control
plane stacks need and no ClientSpec holds. One YAML file, validated like a ClientSpec."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from b2brec.security.hosts import AllowList
from b2brec.spec.loader import SpecError

DEFAULT_PLATFORM_FILE = Path(__file__).with_name("platform.yaml")

CONTROL_PLANE_PROJECT = "control-plane-prod"
FOLDERS: tuple[str, ...] = ("Management", "Clients", "Development")
BOOTSTRAPPED_FOLDERS: tuple[str, ...] = ("Management", "Clients")
"""Created by scripts/bootstrap-org.sh (the control plane project and the deployer's grants need them first);
the org stack looks them up and creates the others."""
CLIENTS_FOLDER = "Clients"
MANAGEMENT_FOLDER = "Management"


class PlatformConfig(BaseModel):
    """Organisation-wide settings; the bootstrap script creates what ``terraform_sa`` and ``state_bucket`` name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    org_id: str = Field(description="Numeric organisation id (gcloud organizations list).")
    billing_account: str = Field(description="Default billing account, XXXXXX-XXXXXX-XXXXXX.")
    region: str = Field("europe-west1", description="Region of the control plane's regional resources.")
    control_plane_project: str = Field(CONTROL_PLANE_PROJECT, description="Project id of the control plane.")
    state_bucket: str = Field(
        f"{CONTROL_PLANE_PROJECT}-tfstate", description="GCS bucket holding every stack's Terraform state."
    )
    operators: tuple[str, ...] = Field(
        (), description="IAM members (group:…) who operate the platform; they get folder viewer roles."
    )
    alert_emails: dict[str, str] = Field(default_factory=dict, description="Control plane alert recipients.")
    cost_center: str = Field("platform", description="cost_center label of the platform's own resources.")
    template_version: str = Field("v1", description="template_version label of the platform's own resources.")
    created: str = Field("2026-01-01", description="created_date label of the platform's own resources.")
    broker_tier: str = Field(
        "STANDARD_HA",
        description="Memorystore tier of the control plane's Celery broker: STANDARD_HA (failover replica) or BASIC.",
    )
    domain: str | None = Field(
        None,
        description="DNS domain the platform owns (verified in Search Console for the deployer): each client "
        "app is served at {client}.{domain} with a Google-managed certificate. Unset = run.app URLs only.",
    )

    source_hosts_allowed: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Per client id, the private networks its database sources may use (a VPN or interconnect): "
        "entries as in B2BREC_SOURCE_HOSTS_ALLOWED (10.8.0.0/16, db.vpn.acme.example@10.8.0.0/16). The operator's "
        "file, never a ClientSpec field, so nothing a client types can widen it. Each client's stack gives its "
        "ETL job and client app only that client's entries; the control plane gets them all.",
    )

    @field_validator("source_hosts_allowed")
    @classmethod
    def _hosts(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for client_id, entries in value.items():
            try:
                AllowList.parse(entries)
            except ValueError as exc:
                raise ValueError(f"{client_id}: {exc}") from None
        return value

    def hosts_env(self, client_id: str | None = None) -> dict[str, str]:
        """``B2BREC_SOURCE_HOSTS_ALLOWED`` (b2brec.settings) for one client's deployables (its entries
        only), or for the control plane (``client_id`` None: every client's); empty when there are none."""
        chosen = {c: list(e) for c, e in sorted(self.source_hosts_allowed.items()) if e and client_id in (None, c)}
        return {"B2BREC_SOURCE_HOSTS_ALLOWED": json.dumps(chosen)} if chosen else {}

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", value):
            raise ValueError("use a lowercase DNS domain such as clients.example.com")
        return value

    @field_validator("broker_tier")
    @classmethod
    def _broker_tier(cls, value: str) -> str:
        if value not in {"BASIC", "STANDARD_HA"}:
            raise ValueError("use BASIC or STANDARD_HA")
        return value

    @field_validator("org_id")
    @classmethod
    def _org(cls, value: str) -> str:
        if not re.match(r"^\d{6,20}$", value):
            raise ValueError("use the numeric organisation id from `gcloud organizations list`")
        return value

    @field_validator("billing_account")
    @classmethod
    def _billing(cls, value: str) -> str:
        if not re.match(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", value):
            raise ValueError("use the billing account id form 012345-6789AB-CDEF01")
        return value

    @property
    def terraform_sa(self) -> str:
        """The deployer identity the bootstrap script creates (Terraform runs as it)."""
        return f"terraform@{self.control_plane_project}.iam.gserviceaccount.com"

    @property
    def org(self) -> str:
        return f"organizations/{self.org_id}"


def load_platform(path: Path = DEFAULT_PLATFORM_FILE) -> PlatformConfig:
    """Read and validate the platform file; errors name the file, the field and the fix."""
    if not path.is_file():
        raise SpecError(f"{path}: no such platform file; copy stacks/platform.yaml and fill in your organisation")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return PlatformConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise SpecError(f"{path}: invalid platform settings: {problems}") from None
