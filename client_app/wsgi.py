"""WSGI entry: ``gunicorn 'client_app.wsgi:create()'`` in the image; ``python -m client_app.wsgi`` locally."""

from __future__ import annotations

import argparse

from flask import Flask

from client_app.app import create_app


def create() -> Flask:
    return create_app()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the client app (settings from B2BREC_APP_*).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    create().run(host=args.host, port=args.port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
