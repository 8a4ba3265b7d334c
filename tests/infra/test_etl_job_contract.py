"""The scheduled ETL job and the ETL image agree: the job passes no arguments and hands the
entrypoint (``python -m b2brec.etl``) the client's spec as JSON, which round-trips exactly, and
no secret in its environment (the entrypoint reads source passwords from Secret Manager)."""

from __future__ import annotations

import json

from b2brec.backends.cloud_run_jobs import ETL_JOB_CPU, ETL_JOB_MEMORY
from b2brec.spec import SPEC_ENV, list_environments, parse_spec
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
