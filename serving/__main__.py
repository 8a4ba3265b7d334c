"""``python -m serving --client C --port P``: the serving API of one client as a plain process (what
the local provisioner starts; ``b2brec serve`` adds checks and messages for people). It starts
even before a model exists (alive, not ready) and loads the live version once one is deployed."""

from __future__ import annotations

import argparse
import sys

from b2brec.errors import B2BRecError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving")
    parser.add_argument("--client", required=True, help="Project id, client id or environment name.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port} is outside 1-65535")

    import uvicorn
    from pydantic import ValidationError

    from b2brec.context import client_context
    from b2brec.settings import Settings
    from serving.app import app_for_client
    from serving.config import ServingSettings
    from serving.logs import configure_logging

    try:
        settings, serving = Settings(), ServingSettings()
        configure_logging(serving.log_level)
        app = app_for_client(client_context(args.client, settings), serving)
    except (B2BRecError, ValidationError) as exc:
        print(f"serving cannot start: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
