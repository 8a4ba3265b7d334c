"""``python -m serving``: the serving API of one client as a plain process, in two forms.

- ``python -m serving --client C --port P`` (the local provisioner): the client is resolved by name.
- ``python -m serving`` with no arguments (the serving image on Cloud Run): everything comes from the
  environment the client stack sets: ``B2BREC_BACKEND``, the client's spec in ``B2BREC_CLIENT_SPEC``,
  Cloud Run's ``PORT``; ``B2BREC_SERVING_*`` tune the service (serving/config.py).

Either way it starts even before a model exists (alive, not ready), so a new client's first apply
succeeds, and loads the live version once one is deployed. ``b2brec serve`` adds checks for people.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from b2brec.errors import B2BRecError

PORT_ENV = "PORT"
"""Cloud Run tells the container which port to listen on."""


def port_from_env(environ: Mapping[str, str] = os.environ) -> int:
    raw = environ.get(PORT_ENV, "8080")
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise B2BRecError(
            f"${PORT_ENV}={raw!r} is not a port; set it to 1-65535 (Cloud Run sets it)", code="invalid_settings"
        )
    return int(raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--client", help="Project id, client id or environment name; default: $B2BREC_CLIENT_SPEC.")
    parser.add_argument("--port", type=int, help="Port; default: $PORT (Cloud Run), else 8080.")
    parser.add_argument("--host", help="Interface; default 127.0.0.1 with --client, else B2BREC_SERVING_HOST.")
    args = parser.parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port} is outside 1-65535")

    import uvicorn
    from pydantic import ValidationError

    from b2brec.context import client_context, context_for_spec
    from b2brec.settings import Settings
    from b2brec.spec import spec_from_json
    from serving.app import app_for_client
    from serving.config import ServingSettings
    from serving.logs import configure_logging

    try:
        settings, serving = Settings(), ServingSettings()
        if args.client:
            ctx = client_context(args.client, settings)
            host = args.host or "127.0.0.1"
        else:
            ctx = context_for_spec(spec_from_json(settings.client_spec), settings)
            host = args.host or serving.host
        port = args.port if args.port is not None else port_from_env()
        configure_logging(serving.log_level)
        app = app_for_client(ctx, serving)
    except (B2BRecError, ValidationError) as exc:
        print(f"serving cannot start: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
