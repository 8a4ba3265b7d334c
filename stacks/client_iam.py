"""Who may do what inside a client project: one service account per component, least privilege.

Project-level roles are only those with no narrower resource; everything else is granted on
the dataset, bucket, secret or service itself (by the module that owns it). No basic roles.
"""

from __future__ import annotations

COMPONENTS: dict[str, str] = {
    "etl-runner": "Runs the scheduled ETL job: reads client databases, writes raw_data.",
    "client-app": "The business users' web app: connections, schedules, training launcher, deployments.",
    "trainer": "Vertex AI pipeline jobs: extractor, vocabulary builder, two-tower trainer.",
    "serving": "The recommendation API: reads exported models.",
    "mlflow": "The MLflow tracking server and model registry.",
    "backup": "Takes the daily BigQuery snapshots of raw_data (scheduled query); writes nowhere else.",
    "scheduler": "Cloud Scheduler's caller: starts the ETL job and calls the app's retraining check; nothing else.",
}

_RUNTIME = ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/cloudtrace.agent")

PROJECT_ROLES: dict[str, tuple[str, ...]] = {
    "etl-runner": (*_RUNTIME, "roles/bigquery.jobUser"),
    "client-app": (
        *_RUNTIME,
        "roles/aiplatform.user",  # submits and polls Vertex AI CustomJobs
        "roles/bigquery.jobUser",
        "roles/cloudsql.client",
        "roles/cloudsql.instanceUser",  # IAM database login
        # Secrets: nothing project-wide. It manages only the secrets named CONNECTION_SECRET_PREFIX* (see
        # conditional_roles) and holds per-secret grants on the others it uses (serving-api-keys, sources').
    ),
    "trainer": (*_RUNTIME, "roles/aiplatform.user", "roles/bigquery.jobUser", "roles/bigquery.readSessionUser"),
    "serving": _RUNTIME,
    "mlflow": (*_RUNTIME, "roles/cloudsql.client", "roles/cloudsql.instanceUser"),
    "backup": ("roles/logging.logWriter", "roles/bigquery.jobUser"),
    "scheduler": (),  # run.invoker on the ETL job only (modules/cloud_run_job.py); an OIDC token for the app
}

SCHEDULE_EDITOR_ROLE_ID = "b2brecScheduleEditor"
SCHEDULE_EDITOR_PERMISSIONS: tuple[str, ...] = (
    "cloudscheduler.jobs.get",
    "cloudscheduler.jobs.update",
    "cloudscheduler.jobs.pause",
    "cloudscheduler.jobs.enable",
)
"""The client app changes the schedule (and pause state) of the stack's Cloud Scheduler jobs
(``etl-schedule``, ``retrain-schedule``; ``b2brec.backends.schedules``). Cloud Scheduler has no
job-level IAM (there is no ``google_cloud_scheduler_job_iam_*``) and does not take IAM conditions on
job names, so the app holds this custom role on the project: read, update, pause and resume jobs; not
create, delete, list or run them (``roles/cloudscheduler.admin`` has all of those). The stack's two
jobs are the only scheduler jobs in a client project. Updating a job whose target carries a token
needs ``actAs`` on the token's account: that is the ``scheduler`` account, which holds nothing the
app does not already hold (run.invoker on the ETL job, an OIDC token the app itself checks)."""

ETL_LAUNCHER_ROLE_ID = "b2brecEtlLauncher"
ETL_LAUNCHER_PERMISSIONS: tuple[str, ...] = (
    "run.jobs.get",
    "run.jobs.run",
    "run.jobs.runWithOverrides",
    "run.executions.get",
    "run.executions.list",
    "run.executions.cancel",
)
"""The client app runs the ``etl`` job for a business user's "Run now" with the run's id and spec as
per-execution overrides, then follows and may cancel the execution (``b2brec.backends.cloud_run_jobs``:
``run_job`` with overrides, ``get_execution``, ``list_executions`` to find a run it already submitted,
``cancel_execution``). ``roles/run.invoker`` allows none of the overrides or execution reads;
``roles/run.developer`` would also let the app change the job. Granted on the ``etl`` job only. What the
overrides allow is bounded by the job's identity and image: the app cannot change either (no actAs on
``etl-runner``, no ``run.jobs.update``)."""

DATASET_ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    "raw_data": {
        "roles/bigquery.dataEditor": ("etl-runner",),
        "roles/bigquery.dataViewer": ("backup", "client-app", "trainer"),
    },
    "features": {"roles/bigquery.dataEditor": ("client-app", "trainer")},
    "ml_datasets": {"roles/bigquery.dataEditor": ("trainer",), "roles/bigquery.dataViewer": ("client-app",)},
    # serving streams every recommendation into predictions.recommendation_history
    "predictions": {"roles/bigquery.dataEditor": ("trainer", "serving"), "roles/bigquery.dataViewer": ("client-app",)},
    "raw_data_staging": {"roles/bigquery.dataEditor": ("etl-runner",)},
    # only the backup account writes snapshots; the client app may list and restore from them
    "raw_data_snapshots": {"roles/bigquery.dataEditor": ("backup",), "roles/bigquery.dataViewer": ("client-app",)},
}

BUCKET_ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    "data": {"roles/storage.objectAdmin": ("etl-runner", "trainer"), "roles/storage.objectViewer": ("client-app",)},
    "models": {"roles/storage.objectAdmin": ("trainer",), "roles/storage.objectViewer": ("client-app", "serving")},
    "mlflow": {"roles/storage.objectAdmin": ("mlflow", "trainer"), "roles/storage.objectViewer": ("client-app",)},
    "staging": {"roles/storage.objectAdmin": ("client-app", "trainer")},
}

SERVICE_INVOKERS: dict[str, tuple[str, ...]] = {
    "client-app": ("allUsers",),  # public; the app signs users in
    "serving": ("allUsers",),  # public; requests carry the client's API key
    "mlflow": ("client-app", "trainer", "serving"),  # internal ingress and IAM only
}
PUBLIC_SERVICES: frozenset[str] = frozenset(s for s, members in SERVICE_INVOKERS.items() if "allUsers" in members)


CONNECTION_SECRET_PREFIX = "conn-"
"""Secrets the client app creates for connections users add are named ``conn-…``; its secret admin role is
conditioned on that prefix, so it can never read or replace a platform secret (serving-admin-token)."""


def conditional_roles(component: str, project_number: str) -> dict[str, tuple[str, str]]:
    """Project roles held under an IAM condition: ``role -> (title, CEL expression)``.

    Secret Manager checks conditions against ``projects/NUMBER/secrets/ID`` (the project *number*)."""
    if component != "client-app":
        return {}
    prefix = f"projects/{project_number}/secrets/{CONNECTION_SECRET_PREFIX}"
    return {
        "roles/secretmanager.admin": (
            "connection secrets only",
            f'resource.name.startsWith("{prefix}")',
        )
    }


def grants(table: dict[str, tuple[str, ...]], members: dict[str, str]) -> dict[str, list[str]]:
    """``role -> components`` resolved to IAM members (``allUsers`` passes through)."""
    return {role: sorted(members.get(c, c) for c in components) for role, components in table.items()}
