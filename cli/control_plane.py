"""``b2brec control-plane|rollout …``: forwarded to ``python -m control_plane.manage``.

The apps (cli, client_app, control_plane) are independent layers that never import each other,
so these commands exec the control plane's own command module in place of this process, passing
every argument (``--help`` included) through unchanged."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import typer

PASS_THROUGH: dict[str, Any] = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
GROUPS = {
    "control-plane": "The control plane app: serve, worker, create-operator (`b2brec control-plane --help`).",
    "rollout": "Canary rollouts of a template version: start, status, halt (`b2brec rollout --help`).",
}


def forward(group: str) -> Callable[[typer.Context], None]:
    def run(ctx: typer.Context) -> None:
        # replace this process (signals such as Ctrl-C or a SIGTERM reach the control plane directly)
        os.execv(sys.executable, [sys.executable, "-m", "control_plane.manage", group, *ctx.args])

    run.__doc__ = GROUPS[group]
    return run


def register(app: typer.Typer) -> None:
    for group in GROUPS:
        app.command(group, context_settings=PASS_THROUGH, add_help_option=False)(forward(group))
