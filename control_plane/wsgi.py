"""WSGI entry point for gunicorn (the control plane image): ``gunicorn control_plane.wsgi:app``.

Settings come from ``B2BREC_*`` / ``B2BREC_CP_*``; outside local development a real
``B2BREC_CP_SECRET_KEY`` is required and start-up fails with the fix when it is missing."""

from __future__ import annotations

from control_plane.app import create_app

app = create_app()
