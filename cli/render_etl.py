"""Rich views of the ETL services: a connection report and a load summary (renderables only), and
the live per-table progress of a run, drawn from its progress events (b2brec.progress)."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from b2brec.progress import ProgressEvent

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
            self.progress.update(task, total=max(rows, 1), completed=max(rows, 1), status="written")
