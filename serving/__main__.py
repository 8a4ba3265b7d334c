"""``python -m serving``: the serving image's entrypoint (Cloud Run service).

Everything comes from the environment the client stack sets: ``B2BREC_BACKEND``, the client's
spec in ``B2BREC_CLIENT_SPEC`` and Cloud Run's ``PORT``; ``B2BREC_SERVING_*`` tune the service
(serving/config.py). The service starts even before a model exists (live, not ready), so the
first apply of a new client succeeds; `/admin/deploy` or a new revision loads one later.
"""

from __future__ import annotations

import os
import sys

from b2brec.errors import B2BRecError

PORT_ENV = "PORT"
"""Cloud Run tells the container which port to listen on."""


def port_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    raw = environ.get(PORT_ENV, "8080")
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise B2BRecError(f"${PORT_ENV}={raw!r} is not a port; set it to 1-65535 (Cloud Run sets it)")
    return int(raw)


def main() -> int:
    import uvicorn
    from pydantic import ValidationError

    from b2brec.context import context_for_spec
    from b2brec.settings import Settings
    from b2brec.spec import spec_from_json
    from serving.app import app_for_client
    from serving.config import ServingSettings
    from serving.logs import configure_logging

    try:
        settings = Settings()
        serving = ServingSettings()
        ctx = context_for_spec(spec_from_json(settings.client_spec), settings)
        port = port_from_env()
    except B2BRecError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"error (invalid_settings): {exc}", file=sys.stderr)
        return 2
    configure_logging(serving.log_level)
    app = app_for_client(ctx, serving)
    uvicorn.run(app, host=serving.host, port=port, access_log=False, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
