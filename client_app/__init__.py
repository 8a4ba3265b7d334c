"""The client app: business users connect data, train, compare and deploy models (see docs/client_app.md)."""

from client_app.app import create_app

__all__ = ["create_app"]
