"""ETL from client databases and files into the client's warehouse (``raw_data``), with dlt.

    ctx = client_context("demo-dev", settings)       # b2brec.context
    report = test_connection(ctx)                     # what is wrong with a source, and the fix
    summary = run_etl(ctx, on_event=print)            # full, then incremental loads (b2brec.progress events)

See ``docs/etl.md``.
"""

from b2brec.etl.checks import Check, ConnectionReport, test_connection
from b2brec.etl.errors import ERROR_CODES, EtlError
from b2brec.etl.history import LoadSummary, TableLoad, list_runs
from b2brec.etl.run import run_etl

__all__ = [
    "ERROR_CODES",
    "Check",
    "ConnectionReport",
    "EtlError",
    "LoadSummary",
    "TableLoad",
    "list_runs",
    "run_etl",
    "test_connection",
]
