"""Rich views of the ETL services: a connection report and a load summary (renderables only), and
the live per-table progress of a run, drawn from its progress events (b2brec.progress)."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from b2brec.progress import ProgressEvent

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


class EtlProgressView:
    """One progress bar per table, fed by ``run_etl(..., on_event=view)``; use as a context manager."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<13}"),
            BarColumn(),
            TextColumn("{task.fields[status]:<10} {task.completed:>12,.0f} rows"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> EtlProgressView:
        self.progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def __call__(self, event: ProgressEvent) -> None:
        table = event.data.get("table")
        if table is None:  # run-level events (check, etl) are summarised after the run
            return
        if table not in self.tasks:
            self.tasks[table] = self.progress.add_task(table, total=None, status="reading")
        task, rows = self.tasks[table], event.done or 0
        if event.stage == "extract":
            self.progress.update(task, completed=rows)
        elif event.kind == "start":
            self.progress.update(task, completed=rows, status="loading")
        elif event.kind == "done":
            self.progress.update(task, total=max(rows, 1), completed=rows, status="written")
