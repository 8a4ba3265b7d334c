"""Launch an ETL run as a job through the client's job interface (``ClientBackends.etl_jobs``):
a subprocess locally, an execution of the client's Cloud Run ETL job on GCP. The job runs
``python -m b2brec.etl`` with the client's spec in ``B2BREC_CLIENT_SPEC`` either way, so the
client app's worker submits, polls and cancels ETL runs exactly like pipeline stages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from b2brec.backends.jobs import JobRunner, JobSpec
from b2brec.etl.__main__ import SPEC_ENV
from b2brec.spec import ClientSpec

ETL_MODULE = "b2brec.etl"


def etl_job_spec(spec: ClientSpec, *, full_refresh: bool = False, tables: Sequence[str] = ()) -> JobSpec:
    args = (["--full-refresh"] if full_refresh else []) + [a for t in tables for a in ("--table", t)]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return JobSpec(
        name=f"etl-{stamp}",
        module=ETL_MODULE,
        args=tuple(args),
        env={SPEC_ENV: spec.model_dump_json()},
    )


def submit_etl(jobs: JobRunner, spec: ClientSpec, *, full_refresh: bool = False, tables: Sequence[str] = ()) -> str:
    """Start one ETL run; returns its job id (poll it with ``jobs.status``)."""
    return jobs.submit(etl_job_spec(spec, full_refresh=full_refresh, tables=tables))
