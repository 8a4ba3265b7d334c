"""The schedules the client app changes at run time: the retraining job, and who may edit them.

- ``retrain-schedule``: a Cloud Scheduler job that POSTs to the client app's retraining check with an
  OIDC token of the scheduler account (the app verifies it), paused while the client has no
  ``training.retrain_schedule``. Its schedule, time zone and pause state belong to the app after the
  first apply (``ignore_changes``), like the ETL job's trigger.
- A custom role with exactly the permissions the app needs on scheduler jobs, granted to the app on
  the project (Cloud Scheduler has no job-level IAM; see ``stacks.client_iam.SCHEDULE_EDITOR_PERMISSIONS``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.cloud_scheduler_job import (
    CloudSchedulerJob,
    CloudSchedulerJobHttpTarget,
    CloudSchedulerJobHttpTargetOidcToken,
    CloudSchedulerJobRetryConfig,
)
from cdktn_provider_google.project_iam_custom_role import ProjectIamCustomRole
from cdktn_provider_google.project_iam_member import ProjectIamMember
from constructs import Construct

from modules.base import reference
from modules.cloud_run_job import SCHEDULE_APP_OWNED

RETRAIN_CHECK_PATH = "/training/api/scheduled-check"
PAUSED_CRON = "0 4 * * 1"
"""The cron a paused retrain job carries (Mondays 04:00 UTC) until the app sets the client's."""


def retrain_audience(project_id: str) -> str:
    """The OIDC audience of the retrain job's token: fixed, so the app knows it without its own URL."""
    return f"b2brec-retrain-check:{project_id}"


@dataclass(frozen=True, kw_only=True)
class SchedulesProps:
    project_id: str
    region: str
    app_url: str
    """The client app's URL (the retraining check is POSTed there)."""
    scheduler_service_account: str
    editor_member: str
    """Who may change the jobs' schedules: the client app's service account (``serviceAccount:...``)."""
    role_id: str
    permissions: tuple[str, ...]
    retrain_schedule: str | None


class Schedules(Construct):
    def __init__(self, scope: Construct, id_: str, props: SchedulesProps) -> None:
        super().__init__(scope, id_)
        self.role = ProjectIamCustomRole(
            self,
            "editor_role",
            project=props.project_id,
            role_id=props.role_id,
            title="b2brec schedule editor",
            description="Read, reschedule, pause and resume the client's Cloud Scheduler jobs (not create/delete/run).",
            permissions=list(props.permissions),
        )
        ProjectIamMember(
            self, "editor", project=props.project_id, role=self.role.name, member=reference(self, props.editor_member)
        )
        self.retrain = CloudSchedulerJob(
            self,
            "retrain",
            project=props.project_id,
            region=props.region,
            name="retrain-schedule",
            description="Asks the client app to retrain when new data arrived (deploys only a better model).",
            schedule=props.retrain_schedule or PAUSED_CRON,
            time_zone="UTC",
            paused=props.retrain_schedule is None,
            attempt_deadline="320s",
            retry_config=CloudSchedulerJobRetryConfig(retry_count=0),
            http_target=CloudSchedulerJobHttpTarget(
                http_method="POST",
                uri=f"{props.app_url}{RETRAIN_CHECK_PATH}",
                oidc_token=CloudSchedulerJobHttpTargetOidcToken(
                    service_account_email=reference(self, props.scheduler_service_account),
                    audience=retrain_audience(props.project_id),
                ),
            ),
            lifecycle=TerraformResourceLifecycle(ignore_changes=list(SCHEDULE_APP_OWNED)),
        )
