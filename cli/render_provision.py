"""The live view of a provisioner operation (create, apply, delete, plan), drawn from its progress
events (``provisioning.base`` lists the stages): a spinner names the running step and the last line of
its log (terraform's output), and each finished or failed step is printed as one line."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.status import Status

from b2brec.progress import ProgressEvent


class ProvisionProgressView:
    """Feed it as ``on_event`` inside ``with ProvisionProgressView(console, title):``."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self.status: Status = console.status(escape(title))
        self.step = ""

    def __enter__(self) -> ProvisionProgressView:
        self.status.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.status.__exit__(exc_type, exc, tb)

    def __call__(self, event: ProgressEvent) -> None:
        message = escape(event.message)
        if event.kind == "start":
            self.step = event.message
            self.status.update(f"{escape(self.title)}: {message}…")
        elif event.kind == "advance":  # a line of the operation's log: shown under the spinner, kept in the log file
            step = f"{escape(self.step)} · " if self.step else ""
            self.status.update(f"{escape(self.title)}: {step}[dim]{message[:120]}[/dim]")
        elif event.kind == "done":
            self.console.print(f"[green]✓[/green] {message}", highlight=False, soft_wrap=True)
        else:
            log = str(event.data.get("log") or "")
            where = f" (log: {escape(log)})" if log and log not in event.message else ""
            self.console.print(f"[red]✗[/red] {event.stage}: {message}{where}", highlight=False, soft_wrap=True)
