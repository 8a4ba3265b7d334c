"""Project: a GCP project under a folder, linked to billing, with its APIs, audit logs and IAM."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from cdktn_provider_google.project import Project as GoogleProject
from cdktn_provider_google.project_default_service_accounts import ProjectDefaultServiceAccounts
from cdktn_provider_google.project_iam_audit_config import (
    ProjectIamAuditConfig,
    ProjectIamAuditConfigAuditLogConfig,
)
from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.project_service import ProjectService
from constructs import Construct

from modules.base import (
    PROTECTED,
    PropsError,
    bind_members,
    key,
    require_iam,
    require_labels,
    require_project,
)

_DISPLAY_DROP = re.compile(r"[^A-Za-z0-9' !-]+")
_DISPLAY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9' !-]{2,28}[A-Za-z0-9'!]$")


def display_name(name: str, fallback: str) -> str:
    """A valid project display name from a free-form one: GCP allows letters, digits, hyphen, single
    quote, space and exclamation mark, 4-30 characters, starting with a letter (``Prairie Supply Co.``
    becomes ``Prairie Supply Co``). ``fallback`` (the project id) stands in when nothing usable is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = " ".join(_DISPLAY_DROP.sub(" ", ascii_name).split())
    cleaned = cleaned.lstrip("0123456789' !-")[:30].rstrip(" -")
    return cleaned if _DISPLAY_NAME.match(cleaned) else fallback


_BILLING = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
_FOLDER = re.compile(r"^folders/\d+$")

DATA_ACCESS_AUDITED: tuple[str, ...] = ("allServices",)
"""Every service's admin and data access is audit-logged (who read or wrote which object, table, secret)."""


@dataclass(frozen=True, kw_only=True)
class ProjectProps:
    project_id: str
    name: str
    """Display name shown in the console; sanitized to what GCP accepts (``display_name``)."""
    billing_account: str
    """Billing account id ``XXXXXX-XXXXXX-XXXXXX`` the project is charged to."""
    folder_id: str
    """Parent folder, ``folders/NUMBER`` or a reference to a folder resource's ``name``."""
    labels: dict[str, str]
    services: tuple[str, ...] = ()
    """APIs to enable; left enabled on destroy so other stacks sharing them do not break."""
    iam: dict[str, list[str]] = field(default_factory=dict)
    """Project-level ``role -> members`` (additive bindings; never basic roles)."""
    audited_services: tuple[str, ...] = DATA_ACCESS_AUDITED
    """Services whose Data Access audit logs (admin reads, data reads and writes) are on."""
    deprivilege_default_service_accounts: bool = True
    """Strip the default Compute/App Engine service accounts of their Editor role: nothing runs as them."""


class Project(Construct):
    def __init__(self, scope: Construct, id_: str, props: ProjectProps) -> None:
        super().__init__(scope, id_)
        where = f"project {props.project_id!r}"
        require_project(props.project_id, where)
        if not _BILLING.match(props.billing_account):
            raise PropsError(
                f"{where}: billing account {props.billing_account!r} is invalid; use the form 012345-6789AB-CDEF01"
            )
        if not (_FOLDER.match(props.folder_id) or props.folder_id.startswith("${")):
            raise PropsError(f"{where}: folder {props.folder_id!r} is invalid; use folders/NUMBER")
        labels = require_labels(props.labels, where)
        iam = require_iam(props.iam, where)

        self.project = GoogleProject(
            self,
            "project",
            project_id=props.project_id,
            name=display_name(props.name, props.project_id),
            folder_id=props.folder_id,
            billing_account=props.billing_account,
            auto_create_network=False,
            labels=labels,
            deletion_policy="PREVENT",
            lifecycle=PROTECTED,
        )
        self.project_id = props.project_id
        self.number = self.project.number
        self.services = {
            api: ProjectService(
                self,
                key("service", api),
                project=self.project.project_id,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
            )
            for api in sorted(set(props.services))
        }
        dependencies = list(self.services.values())
        bind_members(self, ProjectIamMember, iam, project=self.project.project_id)
        for service in sorted(set(props.audited_services)):
            ProjectIamAuditConfig(
                self,
                key("audit", service),
                project=self.project.project_id,
                service=service,
                audit_log_config=[
                    ProjectIamAuditConfigAuditLogConfig(log_type="ADMIN_READ"),
                    ProjectIamAuditConfigAuditLogConfig(log_type="DATA_READ"),
                    ProjectIamAuditConfigAuditLogConfig(log_type="DATA_WRITE"),
                ],
                depends_on=dependencies,
            )
        if props.deprivilege_default_service_accounts:
            ProjectDefaultServiceAccounts(
                self,
                "default_service_accounts",
                project=self.project.project_id,
                action="DEPRIVILEGE",
                restore_policy="REVERT",
                depends_on=dependencies,
            )
