"""Progress events: how a service tells its caller what it is doing, without knowing who listens.

A service takes ``on_event: OnEvent | None`` and calls it at each step; the CLI renders the events
with rich, a Flask app stores them for a JSON poll, a Celery task forwards them as task state. No
service imports a renderer (the import contract forbids rich/typer below the apps).

Kinds: ``start`` (a stage begins; ``total`` if known), ``advance`` (``done`` of ``total`` so far),
``done`` (the stage finished; ``done`` is the final count), ``error`` (the stage failed; ``data``
holds ``code`` and ``fix``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["start", "advance", "done", "error"]
EVENT_KINDS: tuple[EventKind, ...] = ("start", "advance", "done", "error")


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a service: ``stage`` is a short name (``extract``, ``load``, ``train``...)."""

    stage: str
    kind: EventKind
    done: int | None = None
    total: int | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"progress event kind {self.kind!r}; use one of {EVENT_KINDS}")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe view (what an app stores or sends)."""
        return {
            "stage": self.stage,
            "kind": self.kind,
            "done": self.done,
            "total": self.total,
            "message": self.message,
            "data": dict(self.data),
        }


OnEvent = Callable[[ProgressEvent], None]


def emit(
    on_event: OnEvent | None,
    stage: str,
    kind: EventKind,
    *,
    done: int | None = None,
    total: int | None = None,
    message: str = "",
    **data: Any,
) -> None:
    """Send one event if anyone listens (services call this instead of testing for None each time)."""
    if on_event is not None:
        on_event(ProgressEvent(stage, kind, done=done, total=total, message=message, data=data))
