"""Shared CLI plumbing: settings, console, and turning domain errors into clear exits."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from b2brec.errors import B2BRecError
from b2brec.settings import Settings

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def load_settings() -> Settings:
    try:
        settings = Settings()
    except Exception as exc:  # pydantic ValidationError: show which variable is wrong
        err_console.print(f"[red]error:[/red] invalid B2BREC_* settings: {exc}")
        raise typer.Exit(2) from None
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Render a ``B2BRecError`` as a red line (code and message) plus its fix, and exit 2, instead of a
    traceback. The fix is the error's own or its registered default (b2brec.errors)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except B2BRecError as exc:
            err_console.print(f"[red]error ({exc.code}):[/red] {exc.message}", markup=True, highlight=False)
            # An error's own fix is shown; the registry's generic one is left to the APIs' data.fix, since
            # messages shown here already say what to do.
            if exc.fix and exc.fix != exc.entry.fix and f"Fix: {exc.fix}" not in exc.message:
                err_console.print(f"[yellow]fix:[/yellow] {exc.fix}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper
