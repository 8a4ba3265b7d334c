"""scripts/bootstrap-org.sh: the gcloud commands it would send (dry run), and its refusals."""

from __future__ import annotations

import os
import subprocess

from modules.base import BASIC_ROLES
from tests.infra.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "bootstrap-org.sh"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True
    )


def test_dry_run_creates_project_deployer_and_state_bucket_without_basic_roles() -> None:
    done = _run({"ORG_ID": "123456789012", "BILLING_ACCOUNT": "01ABCD-23EF45-6789AB", "DRY_RUN": "1"})
    assert done.returncode == 0, done.stderr
    commands = [line.removeprefix("+ ") for line in done.stdout.splitlines() if line.startswith("+ ")]
    assert commands[0] == (
        "gcloud projects create control-plane-prod --organization 123456789012 --name b2brec control plane"
    )
    assert "gcloud iam service-accounts create terraform --project control-plane-prod" in done.stdout
    assert any(c.startswith("gcloud storage buckets create gs://control-plane-prod-tfstate") for c in commands)
    assert "--public-access-prevention" in done.stdout and "--versioning" in done.stdout
    roles = [c.split("--role ")[1].split()[0] for c in commands if "--role " in c]
    assert roles and not set(roles) & BASIC_ROLES


def test_missing_org_id_says_how_to_find_it() -> None:
    done = _run({"BILLING_ACCOUNT": "01ABCD-23EF45-6789AB", "DRY_RUN": "1"})
    assert done.returncode != 0
    assert "set ORG_ID to the numeric organisation id (gcloud organizations list)" in done.stderr


def test_deployer_holds_no_organisation_iam_role_and_project_rights_only_where_it_deploys() -> None:
    """Defect 5: an organisation-level securityAdmin let the deployer (and a control plane impersonating it)
    grant itself anything anywhere. Client-project rights come from the org stack, on the Clients folder."""
    from stacks.org import DEPLOYER_ROLES_ON_CLIENTS

    done = _run({"ORG_ID": "123456789012", "BILLING_ACCOUNT": "01ABCD-23EF45-6789AB", "DRY_RUN": "1"})
    commands = [line.removeprefix("+ ") for line in done.stdout.splitlines() if line.startswith("+ ")]
    org_roles = {c.split("--role ")[1].split()[0] for c in commands if c.startswith("gcloud organizations add-iam")}
    assert org_roles == {"roles/resourcemanager.folderAdmin", "roles/resourcemanager.organizationViewer"}
    project_grants = [c for c in commands if c.startswith("gcloud projects add-iam-policy-binding")]
    assert project_grants and all(c.split()[3] == "control-plane-prod" for c in project_grants)
    assert "roles/resourcemanager.projectCreator" in DEPLOYER_ROLES_ON_CLIENTS
    assert not any("securityAdmin" in c or "organizationAdmin" in c for c in commands)
