"""Rich tables of a connection report and a load summary (renderables only; no console I/O here,
so the CLI, the demo and the client app's text views show the same thing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from b2brec.etl.checks import ConnectionReport
    from b2brec.etl.history import LoadSummary


def render_report(report: ConnectionReport) -> Table:
    table = Table("", "source", "check", "result", "how to fix", title="Connection test")
    for check in report.checks:
        mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
        result = check.detail if check.ok else f"[red]{check.code}[/red]: {check.detail}"
        table.add_row(mark, check.source, check.target, result, check.fix)
    return table


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
    return table
