"""``python -m client_app serve --client NAME``: the app with its worker and beat until Ctrl-C.

``b2brec app serve`` runs this (the CLI and the app are sibling layers and do not import each
other). Settings come from the environment (``B2BREC_*``, ``B2BREC_APP_*``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from b2brec.errors import B2BRecError
from b2brec.settings import Settings
from client_app.config import AppConfig
from client_app.demo import ensure_user
from client_app.runner import start


def serve(client: str, host: str, port: int | None, admin_email: str | None, beat: bool) -> int:
    settings = Settings()
    config = AppConfig(client=client, secure_cookies=False)
    from client_app.client import ClientRuntime

    backends = ClientRuntime(config, settings).backends
    if port is None:
        port = backends.service_port("client_app")
        if port is None:
            raise B2BRecError("give --port on backend=gcp", code="invalid_request")
    if not 1 <= port <= 65535:
        raise B2BRecError(f"--port {port} is outside 1-65535", code="invalid_request")
    base_url = f"http://{host}:{port}"
    config = config.model_copy(update={"base_url": base_url})
    if admin_email:
        password = ensure_user(config, settings, admin_email)
        print(f"admin login: {admin_email} / {password}", flush=True)
    env = {"B2BREC_APP_CLIENT": client, "B2BREC_APP_SECURE_COOKIES": "0", "B2BREC_APP_BASE_URL": base_url}
    logs = backends.logs_dir
    processes = start(env, host=host, port=port, logs=logs, beat=beat)
    # `kill PID` (SIGTERM, what the demo's stop hint sends) must stop the worker and beat too: they run in
    # sessions of their own, so only this process can stop them (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"client app at {processes.url} (worker{' and beat' if beat else ''} running; logs in {logs})", flush=True)
    try:
        while all(p.poll() is None for p in processes.all()):
            time.sleep(1)
        print("a client app process stopped; see the logs", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        processes.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client_app", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="Run the client app with its Celery worker (and beat).")
    run.add_argument("--client", required=True, help="Project id, client id or environment name, e.g. demo-dev.")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=None, help="Default: the client project's client_app port.")
    run.add_argument("--create-admin", dest="admin_email", default=None, help="Create (or reset) this admin login.")
    run.add_argument("--no-beat", dest="beat", action="store_false", help="Do not run Celery beat.")
    args = parser.parse_args(argv)
    try:
        return serve(args.client, args.host, args.port, args.admin_email, args.beat)
    except B2BRecError as exc:
        fix = f" (fix: {exc.fix})" if exc.fix else ""
        print(f"error ({exc.code}): {exc.message}{fix}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
