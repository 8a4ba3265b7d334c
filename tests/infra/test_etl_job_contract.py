"""The scheduled ETL job and the ETL image agree: the job passes no arguments and hands the
entrypoint (``python -m b2brec.etl``) the client's spec as JSON, which round-trips exactly, and
no secret in its environment (the entrypoint reads source passwords from Secret Manager)."""

from __future__ import annotations

import json
import re

from b2brec.backends.cloud_run_jobs import ETL_JOB_CPU, ETL_JOB_MEMORY
from b2brec.spec import SPEC_ENV, list_environments, parse_spec
from stacks.client_iam import ETL_LAUNCHER_ROLE_ID
from tests.images.runtime import resolve
from tests.infra.conftest import ENVIRONMENTS, Synthesized


def test_every_client_etl_job_carries_its_spec_and_no_arguments(stacks: dict[str, Synthesized]) -> None:
    for name in list_environments(ENVIRONMENTS):
        stack = stacks[name]
        (job,) = stack.resources("google_cloud_run_v2_job").values()
        (container,) = job["template"]["template"]["containers"]
        assert not container.get("args"), f"{name}: the ETL image takes no arguments on GCP"
        env = {item["name"]: item.get("value") for item in container["env"]}
        # Terraform turns the escaped literal ($${B2BREC_HOME}) back into the spec's own text.
        spec = parse_spec(json.loads(resolve(env[SPEC_ENV], {}, where=name)), origin=name)
        assert spec == stack.spec
        # Source passwords are read from Secret Manager at run time, never injected as env vars.
        assert not [item for item in container["env"] if "value_source" in item], f"{name}: secret in job env"
        # what an ETL run records as its machine (ClientBackends.etl_machine) is what the job gets
        assert container["resources"]["limits"] == {"cpu": ETL_JOB_CPU, "memory": ETL_JOB_MEMORY}


# What each Cloud Run API call the app's ETL runner makes needs (cloud.google.com/run/docs/reference/iam/permissions).
RUNNER_CALL_PERMISSIONS = {
    "run_job": {"run.jobs.run", "run.jobs.runWithOverrides"},  # the run's id and spec ride as overrides
    "get_execution": {"run.executions.get"},
    "list_executions": {"run.executions.list"},
    "cancel_execution": {"run.executions.cancel"},
}


def _runner_calls() -> set[str]:
    """The API methods ``CloudRunJobRunner`` calls on its clients (``self.client.X`` / ``self.executions.X``)."""
    import ast
    import inspect

    from b2brec.backends import cloud_run_jobs

    tree = ast.parse(inspect.getsource(cloud_run_jobs.CloudRunJobRunner))
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr in {"client", "executions"}
    }


def test_the_client_app_may_run_the_etl_job_with_overrides_and_follow_it(stacks: dict[str, Synthesized]) -> None:
    """The app's "Run now" submits the job with overrides and polls its execution (client_app/etl): with only
    roles/run.invoker every run would fail with 403 on GCP. It holds a custom role with exactly what the
    runner's calls need, on the ``etl`` job only, and nothing that could change the job."""
    calls = _runner_calls()
    assert calls and calls <= set(RUNNER_CALL_PERMISSIONS), f"map the new call's permission: {calls}"
    needed = set().union(*(RUNNER_CALL_PERMISSIONS[call] for call in calls))
    app_member = re.compile(r"\$\{google_service_account\.service_accounts_client_app_[0-9A-F]{8}\.member\}")
    for name in list_environments(ENVIRONMENTS):
        stack = stacks[name]
        roles = {
            key: role
            for key, role in stack.resources("google_project_iam_custom_role").items()
            if role["role_id"] == ETL_LAUNCHER_ROLE_ID
        }
        assert len(roles) == 1, name
        ((role_key, role),) = roles.items()
        permissions = set(role["permissions"])
        assert needed <= permissions, f"{name}: the app's ETL runner also needs {sorted(needed - permissions)}"
        assert permissions <= needed | {"run.jobs.get"}, f"{name}: more than the runner needs"
        app_bindings = [
            binding
            for binding in stack.resources("google_cloud_run_v2_job_iam_member").values()
            if app_member.fullmatch(binding["member"])
        ]
        # by reference, so Terraform creates the role (and the account) before the binding
        assert [b["role"] for b in app_bindings] == [f"${{google_project_iam_custom_role.{role_key}.name}}"], name
