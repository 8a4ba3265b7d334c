"""``python -m b2brec.etl [CLIENT] [--full-refresh] [--table T ...]``: one ETL run, no UI.

The entry point a job runner (subprocess locally, the Cloud Run job on GCP) starts; it prints the
load summary as JSON and exits 2 on a user error. With ``--run-id`` (what ``b2brec.etl.jobs.submit_etl``
passes) the run is recorded under that id, and its progress events and outcome are written to the
client's data bucket (``etl-runs/RUN_ID/``), where the submitter reads them on any backend. With no
CLIENT it serves the client whose spec is in ``$B2BREC_CLIENT_SPEC`` (``Settings.client_spec``: what the
client stack gives the Cloud Run job).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from pydantic import ValidationError

from b2brec.context import ClientContext, client_context, context_for_spec
from b2brec.errors import B2BRecError
from b2brec.etl.jobs import RunReport
from b2brec.etl.run import run_etl
from b2brec.settings import Settings
from b2brec.spec import SPEC_ENV, spec_from_json


def _context(client: str | None, settings: Settings) -> ClientContext:
    if client:
        return client_context(client, settings)
    if settings.client_spec:
        return context_for_spec(spec_from_json(settings.client_spec), settings)
    raise B2BRecError(
        f"name a local client project, or set ${SPEC_ENV} to the client's spec as JSON", code="invalid_request"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m b2brec.etl", description=__doc__)
    parser.add_argument(
        "client",
        nargs="?",
        help=f"project id, client id or environment name of a local project; default: the spec in ${SPEC_ENV}",
    )
    parser.add_argument("--full-refresh", action="store_true")
    parser.add_argument("--table", action="append", dest="tables")
    parser.add_argument("--run-id", help="record the run under this id and report to etl-runs/RUN_ID/")
    args = parser.parse_args(argv)
    report: RunReport | None = None
    try:
        settings = Settings()
        ctx = _context(args.client, settings)
        report = RunReport(ctx.backends.storage("data"), args.run_id) if args.run_id else None
        summary = run_etl(ctx, full_refresh=args.full_refresh, tables=args.tables, on_event=report, run_id=args.run_id)
    except B2BRecError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        if report is not None:
            report.failed(exc)
        return 2
    except ValidationError as exc:
        print(f"error (invalid_settings): {exc}", file=sys.stderr)
        return 2
    if report is not None:
        report.succeeded(summary)
    print(json.dumps(asdict(summary), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
