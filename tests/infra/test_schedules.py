"""The schedules the client app changes (ETL, retraining) in the synthesized client stacks: the jobs,
what the app may do to them (a custom role with four permissions: Cloud Scheduler has no job-level
IAM), whose token they carry, and that a later apply leaves the app's schedule alone."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from b2brec.spec import list_environments
from modules.schedules import PAUSED_CRON, RETRAIN_CHECK_PATH, retrain_audience
from stacks.client_iam import SCHEDULE_EDITOR_PERMISSIONS, SCHEDULE_EDITOR_ROLE_ID
from tests.synthesized import ENVIRONMENTS, Synthesized

CLIENTS = list_environments(ENVIRONMENTS)
APP_OWNED = {"schedule", "time_zone", "paused"}


@pytest.fixture(scope="module", params=CLIENTS)
def stack(request: pytest.FixtureRequest, stacks: dict[str, Synthesized]) -> Synthesized:
    return stacks[request.param]


def _jobs(stack: Synthesized) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in stack.resources("google_cloud_scheduler_job").values()}


def _email(stack: Synthesized, account: str) -> str:
    assert stack.spec is not None
    return f"{account}@{stack.spec.project_id}.iam.gserviceaccount.com"


def _is_account(value: str, stack: Synthesized, account: str, attribute: str = "email") -> bool:
    """The account's email (or IAM member), as a literal or as a reference to its service account."""
    pattern = rf"\$\{{google_service_account\.service_accounts_(\w+)_[0-9A-F]{{8}}\.{attribute}\}}"
    reference = re.fullmatch(pattern, value)
    literal = _email(stack, account) if attribute == "email" else f"serviceAccount:{_email(stack, account)}"
    return value == literal or (reference is not None and reference.group(1) == account.replace("-", "_"))


def _members(stack: Synthesized, rtype: str, account: str) -> list[dict[str, Any]]:
    return [m for m in stack.resources(rtype).values() if _is_account(m["member"], stack, account, "member")]


def test_the_app_may_reschedule_pause_and_resume_jobs_and_nothing_more(stack: Synthesized) -> None:
    roles = [
        role
        for role in stack.resources("google_project_iam_custom_role").values()
        if role["role_id"] == SCHEDULE_EDITOR_ROLE_ID
    ]
    assert len(roles) == 1
    role = roles[0]
    assert sorted(role["permissions"]) == sorted(SCHEDULE_EDITOR_PERMISSIONS)
    assert not {"cloudscheduler.jobs.create", "cloudscheduler.jobs.delete", "cloudscheduler.jobs.run"} & set(
        role["permissions"]
    )
    members = stack.resources("google_project_iam_member").values()
    holders = [m["member"] for m in members if "google_project_iam_custom_role" in str(m["role"])]
    assert len(holders) == 1 and _is_account(holders[0], stack, "client-app", "member")
    assert not [m for m in members if str(m["role"]).startswith("roles/cloudscheduler.")]


def test_both_jobs_carry_the_scheduler_accounts_token_and_keep_the_apps_schedule(stack: Synthesized) -> None:
    assert stack.spec is not None
    jobs = _jobs(stack)
    assert set(jobs) == {"etl-schedule", "retrain-schedule"}
    for job in jobs.values():
        assert APP_OWNED <= set(job["lifecycle"]["ignore_changes"]), job["name"]
    etl, retrain = jobs["etl-schedule"], jobs["retrain-schedule"]
    assert _is_account(etl["http_target"]["oauth_token"]["service_account_email"], stack, "scheduler")
    assert etl["schedule"] == stack.spec.etl.schedule
    target = retrain["http_target"]
    assert target["http_method"] == "POST" and target["uri"].endswith(RETRAIN_CHECK_PATH)
    assert re.fullmatch(
        r"\$\{google_cloud_run_v2_service\.run_client_app_service_\w+\.uri\}" + RETRAIN_CHECK_PATH, target["uri"]
    )
    assert set(target["oidc_token"]) == {"service_account_email", "audience"}
    assert _is_account(target["oidc_token"]["service_account_email"], stack, "scheduler")
    assert target["oidc_token"]["audience"] == retrain_audience(stack.spec.project_id)
    wanted = stack.spec.training.retrain_schedule
    assert retrain["schedule"] == (wanted or PAUSED_CRON)
    assert retrain["paused"] is (wanted is None)
    assert retrain["time_zone"] == "UTC"


def test_the_scheduler_account_holds_nothing_but_invoking_the_etl_job(stack: Synthesized) -> None:
    for rtype in ("google_project_iam_member", "google_storage_bucket_iam_member", "google_bigquery_dataset_iam_member",
                  "google_secret_manager_secret_iam_member", "google_cloud_run_v2_service_iam_member"):  # fmt: skip
        assert _members(stack, rtype, "scheduler") == [], rtype
    assert [m["role"] for m in _members(stack, "google_cloud_run_v2_job_iam_member", "scheduler")] == [
        "roles/run.invoker"
    ]
    # the app may act as it (updating a job whose target carries its token needs actAs), nobody else
    acting = [
        m for m in stack.resources("google_service_account_iam_member").values()
        if "service_accounts_scheduler_" in json.dumps(m["service_account_id"])
    ]  # fmt: skip
    assert [m["role"] for m in acting] == ["roles/iam.serviceAccountUser"]
    assert _is_account(acting[0]["member"], stack, "client-app", "member")


def test_the_app_is_told_whose_token_to_accept(stack: Synthesized) -> None:
    assert stack.spec is not None
    app = next(s for s in stack.resources("google_cloud_run_v2_service").values() if s["name"] == "client-app")
    env = {e["name"]: e.get("value") for e in app["template"]["containers"][0]["env"]}
    assert _is_account(env["B2BREC_APP_SCHEDULER_INVOKER"], stack, "scheduler")
    assert env["B2BREC_APP_SCHEDULER_AUDIENCE"] == retrain_audience(stack.spec.project_id)
