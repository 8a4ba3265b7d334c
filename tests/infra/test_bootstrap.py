"""scripts/bootstrap-org.sh: the gcloud commands it would send (dry run), and its refusals."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable

from modules.base import BASIC_ROLES
from tests.infra.conftest import REPO_ROOT, Synthesized

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
        "gcloud projects create control-plane-prod --folder MANAGEMENT_FOLDER_ID --name b2brec control plane"
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


def test_deployer_holds_no_organisation_role_and_project_rights_only_where_it_deploys() -> None:
    """Defect 5: an organisation-level securityAdmin (then folderAdmin, which covers every folder of the
    organisation) let the deployer, and a control plane impersonating it, reach beyond the Clients folder."""
    done = _run(DRY_RUN)
    commands = [line.removeprefix("+ ") for line in done.stdout.splitlines() if line.startswith("+ ")]
    assert not [c for c in commands if c.startswith("gcloud organizations add-iam")]
    folder_grants = [c for c in commands if c.startswith("gcloud resource-manager folders add-iam-policy-binding")]
    assert {c.split()[4] for c in folder_grants} == {"CLIENTS_FOLDER_ID", "MANAGEMENT_FOLDER_ID"}
    project_grants = [c for c in commands if c.startswith("gcloud projects add-iam-policy-binding")]
    assert project_grants and all(c.split()[3] == "control-plane-prod" for c in project_grants)
    assert "gcloud projects create control-plane-prod --folder MANAGEMENT_FOLDER_ID" in done.stdout
    assert not any("securityAdmin" in c or "organizationAdmin" in c or "folderAdmin" in c for c in commands)


# --- the deployer's grants, and what the runbook says they allow --------------------------------------------

RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
DRY_RUN = {"ORG_ID": "123456789012", "BILLING_ACCOUNT": "01ABCD-23EF45-6789AB", "DRY_RUN": "1"}
FOLDER_EDITORS = {"roles/resourcemanager.folderAdmin", "roles/resourcemanager.folderIamAdmin",
                  "roles/resourcemanager.folderCreator", "roles/resourcemanager.folderEditor",
                  "roles/resourcemanager.folderMover", "roles/resourcemanager.projectMover"}  # fmt: skip


def script_grants() -> dict[str, set[str]]:
    """Where -> roles the script grants the deployer (dry run), keyed as the runbook's table names them."""
    done = _run(DRY_RUN)
    assert done.returncode == 0, done.stderr
    where_of = {
        "gcloud organizations": "organisation",
        "gcloud resource-manager folders add-iam-policy-binding CLIENTS_FOLDER_ID": "Clients folder",
        "gcloud resource-manager folders add-iam-policy-binding MANAGEMENT_FOLDER_ID": "Management folder",
        "gcloud projects add-iam-policy-binding control-plane-prod": "`control-plane-prod`",
        "gcloud billing accounts": "billing account",
        "gcloud storage buckets add-iam-policy-binding": "state bucket",
    }
    grants: dict[str, set[str]] = {where: set() for where in where_of.values()}
    for line in done.stdout.splitlines():
        command = line.removeprefix("+ ")
        if "--role " not in command or "serviceAccount:terraform@" not in command:
            continue
        (where,) = [w for prefix, w in where_of.items() if command.startswith(prefix)] or [command]
        assert where in grants, f"a grant the runbook's table has no row for: {command}"
        grants[where].add(command.split("--role ")[1].split()[0])
    return grants


def runbook_grants() -> dict[str, set[str]]:
    text = RUNBOOK.read_text()
    table = text.split("<!-- deployer-grants -->", 1)[1].split("\n\n", 1)[0]
    rows = [line.strip("|").split("|") for line in table.strip().splitlines()[2:]]
    return {where.strip(): {f"roles/{r}" for r in re.findall(r"`([a-zA-Z.]+)`", roles)} for where, roles in rows}


def test_the_runbook_lists_exactly_the_roles_the_script_grants() -> None:
    assert runbook_grants() == script_grants()


COULD_NOT: dict[str, Callable[[dict[str, set[str]]], bool]] = {
    "change organisation IAM, org policies or anything else at the organisation level": (
        lambda g: not g["organisation"]
    ),
    "create, move or delete folders, or change any folder's IAM": (
        lambda g: (
            not (g["Clients folder"] | g["Management folder"] | g["`control-plane-prod`"]) & FOLDER_EDITORS
            and not g["organisation"]
        )
    ),
    "touch projects outside the Clients folder and `control-plane-prod`": (
        lambda g: not g["organisation"] and g["Management folder"] == {"roles/resourcemanager.folderViewer"}
    ),
    "read the data of other projects billed to the billing account": (
        lambda g: g["billing account"] <= {"roles/billing.user", "roles/billing.costsManager"} and not g["organisation"]
    ),
}
"""Each claim of the runbook's "They could not" list, and the fact about the script's grants that makes it true."""


def test_what_the_runbook_says_a_compromised_deployer_cannot_do_follows_from_the_grants() -> None:
    text = RUNBOOK.read_text()
    listed = text.split("<!-- could-not -->", 1)[1].split("\n\n", 1)[0].strip()
    claims = [line.removeprefix("- ") for line in listed.splitlines()]
    assert set(claims) == set(COULD_NOT), "each claim needs its check here (and each check its claim)"
    grants = script_grants()
    for claim in claims:
        assert COULD_NOT[claim](grants), f"the runbook claims it could not {claim!r}, but the script grants {grants}"


def test_the_org_stack_creates_no_folder_the_bootstrap_owns_and_grants_the_deployer_nothing(
    stacks: dict[str, Synthesized],
) -> None:
    from stacks.platform import BOOTSTRAPPED_FOLDERS, FOLDERS, load_platform

    org = stacks["org"].data
    created = {f["display_name"] for f in org["resource"]["google_folder"].values()}
    assert created == set(FOLDERS) - set(BOOTSTRAPPED_FOLDERS)
    looked_up = {f["display_name"] for f in org["data"]["google_active_folder"].values()}
    assert looked_up == set(BOOTSTRAPPED_FOLDERS)
    deployer = load_platform().terraform_sa
    members = [m["member"] for m in org["resource"]["google_folder_iam_member"].values()]
    assert members and not [m for m in members if deployer in m]
    folders = [c for c in _run(DRY_RUN).stderr.splitlines() if "folders create" in c]
    assert {c.split("--display-name ")[1].split()[0] for c in folders} == set(BOOTSTRAPPED_FOLDERS)
