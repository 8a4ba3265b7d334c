"""Rich tables of a connection report and a load summary (renderables only; no console I/O here,
so the CLI, the demo and the client app's text views show the same thing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from b2brec.etl.checks import ConnectionReport
    from b2brec.etl.history import LoadSummary


def render_report(report: ConnectionReport) -> Group:
    """The checks as a table, then each failure's fix in full below it.

    A table squeezed into a narrow terminal crops or folds its last column; the fix is what the
    user needs, so it is also printed as plain wrapped text that is never cut off.
    """
    table = Table("", "source", "check", title="Connection test")
    table.add_column("result", overflow="fold")
    for check in report.checks:
        mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
        result = escape(check.detail) if check.ok else f"[red]{escape(check.code or '')}[/red]: {escape(check.detail)}"
        table.add_row(mark, check.source, check.target, result)
    fixes = [
        Text.assemble(("✗ ", "red"), (f"{check.source} / {check.target}", "bold"), " — how to fix: ", check.fix)
        for check in report.failures
        if check.fix
    ]
    return Group(table, *fixes)


def render_summary(summary: LoadSummary) -> Table:
    table = Table(
        "table",
        "source table",
        "mode",
        "rows read",
        "rows written",
        "new watermark",
        title=f"Load summary (run {summary.run_id}, {summary.duration_seconds:.1f} s)",
    )
    for item in summary.tables:
        table.add_row(
            item.table,
            item.source_table,
            item.mode,
            f"{item.rows_read:,}",
            f"{item.rows_written:,}",
            item.watermark or "-",
        )
    table.add_section()
    table.add_row("total", "", "", f"{summary.rows_read:,}", f"{summary.rows_written:,}", "")
    if summary.rules is not None:
        counts = summary.rules
        table.add_section()
        table.add_row(
            "transactions",
            "row rules",
            "",
            f"{counts.lines:,} lines",
            f"{counts.kept:,} sales",
            f"rejected {counts.rejected:,} (cancelled {counts.cancelled:,}, negative {counts.negative:,}, "
            f"returned in full {counts.returned_in_full:,}); excluded {counts.excluded:,}; "
            f"no customer {counts.no_customer:,}",
        )
    return table
