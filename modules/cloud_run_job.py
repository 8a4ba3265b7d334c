"""Scheduled Cloud Run job: the job (image, identity, VPC egress) and the Cloud Scheduler trigger."""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.cloud_run_v2_job import (
    CloudRunV2Job,
    CloudRunV2JobTemplate,
    CloudRunV2JobTemplateTemplate,
    CloudRunV2JobTemplateTemplateContainers,
    CloudRunV2JobTemplateTemplateContainersEnv,
    CloudRunV2JobTemplateTemplateContainersEnvValueSource,
    CloudRunV2JobTemplateTemplateContainersEnvValueSourceSecretKeyRef,
    CloudRunV2JobTemplateTemplateContainersResources,
    CloudRunV2JobTemplateTemplateVpcAccess,
    CloudRunV2JobTemplateTemplateVpcAccessNetworkInterfaces,
)
from cdktn_provider_google.cloud_run_v2_job_iam_member import CloudRunV2JobIamMember
from cdktn_provider_google.cloud_scheduler_job import (
    CloudSchedulerJob,
    CloudSchedulerJobHttpTarget,
    CloudSchedulerJobHttpTargetOauthToken,
    CloudSchedulerJobRetryConfig,
)
from cdktn_provider_google.project_iam_custom_role import ProjectIamCustomRole
from constructs import Construct

from modules.base import (
    PropsError,
    bind_members,
    key,
    reference,
    require_iam,
    require_labels,
    require_name,
    require_project,
    require_region,
)
from modules.cloud_run import PLACEHOLDER_IMAGE, Egress, container_env

JOB_DEPLOY_TOOL_OWNED: tuple[str, ...] = ("client", "client_version", "template[0].template[0].containers[0].image")
SCHEDULE_APP_OWNED: tuple[str, ...] = ("schedule", "time_zone", "paused")
"""Scheduler job fields the client app changes at run time (a later apply keeps the app's choice)."""


@dataclass(frozen=True, kw_only=True)
class LauncherRole:
    """A custom role on the job for callers that run it with per-execution overrides (args, env) and follow
    the execution: ``roles/run.invoker`` runs the job only as configured, ``roles/run.developer`` could
    also change it. The role is defined on the project and granted on this job only."""

    role_id: str
    title: str
    permissions: tuple[str, ...]
    members: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ScheduledJobProps:
    project_id: str
    region: str
    name: str
    service_account: str
    """Identity the job runs as; the scheduler calls the Run API as ``scheduler_service_account``."""
    scheduler_service_account: str
    labels: dict[str, str]
    egress: Egress
    schedule: str
    """Cron expression (5 fields)."""
    time_zone: str = "UTC"
    image: str = PLACEHOLDER_IMAGE
    args: tuple[str, ...] = ()
    cpu: str = "1"
    memory: str = "1Gi"
    timeout_seconds: int = 3600
    max_retries: int = 1
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)
    """Environment variable -> secret id (latest version)."""
    iam: dict[str, list[str]] = field(default_factory=dict)
    """``role -> members`` on the job; the scheduler's account gets roles/run.invoker automatically."""
    launcher: LauncherRole | None = None


class ScheduledJob(Construct):
    def __init__(self, scope: Construct, id_: str, props: ScheduledJobProps) -> None:
        super().__init__(scope, id_)
        where = f"scheduled job {props.name!r}"
        require_project(props.project_id, where)
        require_region(props.region, where)
        require_name(props.name, where)
        labels = require_labels(props.labels, where)
        if len(props.schedule.split()) != 5:
            raise PropsError(f"{where}: schedule {props.schedule!r} must be a 5-field cron such as '0 2 * * *'")
        if not 60 <= props.timeout_seconds <= 86400:
            raise PropsError(f"{where}: timeout_seconds {props.timeout_seconds} must be 60..86400")
        invokers = dict(props.iam)
        invokers["roles/run.invoker"] = sorted(
            {*invokers.get("roles/run.invoker", []), f"serviceAccount:{props.scheduler_service_account}"}
        )
        iam = require_iam(invokers, where)

        env = container_env(
            CloudRunV2JobTemplateTemplateContainersEnv,
            CloudRunV2JobTemplateTemplateContainersEnvValueSource,
            CloudRunV2JobTemplateTemplateContainersEnvValueSourceSecretKeyRef,
            props.env,
            props.secret_env,
        )
        self.job = CloudRunV2Job(
            self,
            "job",
            project=props.project_id,
            location=props.region,
            name=props.name,
            labels=labels,
            deletion_protection=True,
            template=CloudRunV2JobTemplate(
                labels=labels,
                task_count=1,
                template=CloudRunV2JobTemplateTemplate(
                    service_account=reference(self, props.service_account),
                    timeout=f"{props.timeout_seconds}s",
                    max_retries=props.max_retries,
                    vpc_access=CloudRunV2JobTemplateTemplateVpcAccess(
                        egress="ALL_TRAFFIC",
                        network_interfaces=[
                            CloudRunV2JobTemplateTemplateVpcAccessNetworkInterfaces(
                                network=props.egress.network, subnetwork=props.egress.subnetwork
                            )
                        ],
                    ),
                    containers=[
                        CloudRunV2JobTemplateTemplateContainers(
                            name=props.name,
                            image=props.image,
                            args=list(props.args) or None,
                            env=env or None,
                            resources=CloudRunV2JobTemplateTemplateContainersResources(
                                limits={"cpu": props.cpu, "memory": props.memory}
                            ),
                        )
                    ],
                ),
            ),
            lifecycle=TerraformResourceLifecycle(ignore_changes=list(JOB_DEPLOY_TOOL_OWNED)),
        )
        bind_members(
            self, CloudRunV2JobIamMember, iam, project=props.project_id, location=props.region, name=self.job.name
        )
        if props.launcher is not None:
            launcher = props.launcher
            require_iam({"roles/run.invoker": list(launcher.members)}, where)  # well-formed, not public
            self.launcher_role = ProjectIamCustomRole(
                self,
                "launcher_role",
                project=props.project_id,
                role_id=launcher.role_id,
                title=launcher.title,
                description=f"Run Cloud Run job {props.name} with overrides and follow its executions (not change it).",
                permissions=list(launcher.permissions),
            )
            for member in sorted(launcher.members):
                CloudRunV2JobIamMember(
                    self,
                    key("iam", "launcher", member),
                    project=props.project_id,
                    location=props.region,
                    name=self.job.name,
                    role=self.launcher_role.name,  # a reference: the binding waits for the role
                    member=reference(self, member),
                )
        self.trigger = CloudSchedulerJob(
            self,
            "trigger",
            project=props.project_id,
            region=props.region,
            name=f"{props.name}-schedule",
            description=f"Runs Cloud Run job {props.name} on {props.schedule} ({props.time_zone}).",
            schedule=props.schedule,
            time_zone=props.time_zone,
            attempt_deadline="320s",
            retry_config=CloudSchedulerJobRetryConfig(retry_count=1),
            http_target=CloudSchedulerJobHttpTarget(
                http_method="POST",
                uri=(
                    f"https://run.googleapis.com/v2/projects/{props.project_id}/locations/{props.region}"
                    f"/jobs/{props.name}:run"
                ),
                oauth_token=CloudSchedulerJobHttpTargetOauthToken(
                    service_account_email=reference(self, props.scheduler_service_account),
                    scope="https://www.googleapis.com/auth/cloud-platform",
                ),
            ),
            depends_on=[self.job],
            # the client app owns the schedule after the first apply (b2brec.backends.schedules)
            lifecycle=TerraformResourceLifecycle(ignore_changes=list(SCHEDULE_APP_OWNED)),
        )
