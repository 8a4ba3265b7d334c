"""Service accounts: one per component, each with its project roles and who may act as it.

Never owner/editor/viewer; keys are never created (workloads use their attached identity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktn_provider_google.project_iam_member import ProjectIamMember, ProjectIamMemberCondition
from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
from constructs import Construct

from modules.base import (
    PropsError,
    bind_members,
    key,
    register_references,
    require_iam,
    require_name,
    require_project,
    require_roles,
)


def service_account_email(project_id: str, name: str) -> str:
    """The readable email: props and construct ids use it; synthesized values reference the account."""
    return f"{name}@{project_id}.iam.gserviceaccount.com"


@dataclass(frozen=True, kw_only=True)
class ServiceAccountSpec:
    description: str
    project_roles: tuple[str, ...] = ()
    """Project-level roles; prefer resource-level grants in the module owning the resource."""
    iam: dict[str, list[str]] = field(default_factory=dict)
    """Bindings on the account itself, e.g. ``roles/iam.serviceAccountUser`` for who may act as it."""
    conditional_project_roles: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Project roles held only under an IAM condition: ``role -> (title, CEL expression)``."""


@dataclass(frozen=True, kw_only=True)
class ServiceAccountsProps:
    project_id: str
    accounts: dict[str, ServiceAccountSpec]
    """Keyed by component name (``etl-runner``); the name is the account id."""


class ServiceAccounts(Construct):
    def __init__(self, scope: Construct, id_: str, props: ServiceAccountsProps) -> None:
        super().__init__(scope, id_)
        require_project(props.project_id, "service accounts")
        if not props.accounts:
            raise PropsError("service accounts: accounts is empty; name at least one component")
        self.accounts: dict[str, ServiceAccount] = {}
        self.emails: dict[str, str] = {}
        self.members: dict[str, str] = {}
        for name in sorted(props.accounts):
            spec = props.accounts[name]
            where = f"service account {name!r}"
            require_name(name, where)
            if not 6 <= len(name) <= 30:
                raise PropsError(f"{where}: account ids are 6-30 characters; rename it")
            account = ServiceAccount(
                self,
                key(name),
                project=props.project_id,
                account_id=name,
                display_name=name,
                description=spec.description,
            )
            self.accounts[name] = account
            email = service_account_email(props.project_id, name)
            self.emails[name] = email
            self.members[name] = f"serviceAccount:{email}"
            # Every later use of this email or member in the stack is written as a reference to the
            # account, so Terraform creates the account first (apply order, not string equality).
            register_references(self, {email: account.email, self.members[name]: account.member})
        # Bindings after every account is registered, so a member naming another account references it.
        for name in sorted(props.accounts):
            spec, account, where = props.accounts[name], self.accounts[name], f"service account {name!r}"
            for role in require_roles(spec.project_roles, where):
                ProjectIamMember(
                    self,
                    key(name, role),
                    project=props.project_id,
                    role=role,
                    member=account.member,
                )
            for role in require_roles(spec.conditional_project_roles, where):
                title, expression = spec.conditional_project_roles[role]
                ProjectIamMember(
                    self,
                    key(name, role, "conditional"),
                    project=props.project_id,
                    role=role,
                    member=account.member,
                    condition=ProjectIamMemberCondition(title=title, expression=expression),
                )
            bind_members(
                self,
                ServiceAccountIamMember,
                require_iam(spec.iam, where),
                id_prefix=(name,),
                service_account_id=account.name,
            )
