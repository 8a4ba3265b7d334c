"""ETL from client databases and files into the client's warehouse (``raw_data``), with dlt.

    report = test_connection(spec, settings)          # what is wrong with a source, and the fix
    summary = run_etl(spec, settings, progress=print)  # full, then incremental loads

See ``docs/etl.md``.
"""

from b2brec.etl.checks import Check, ConnectionReport, test_connection
from b2brec.etl.errors import ERROR_CODES, EtlError
from b2brec.etl.history import LoadSummary, TableLoad, list_runs
from b2brec.etl.run import EtlProgress, ProgressCallback, run_etl

__all__ = [
    "ERROR_CODES",
    "Check",
    "ConnectionReport",
    "EtlError",
    "EtlProgress",
    "LoadSummary",
    "ProgressCallback",
    "TableLoad",
    "list_runs",
    "run_etl",
    "test_connection",
]
