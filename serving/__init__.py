"""The FastAPI recommendation service: ``create_app`` builds it, ``b2brec serve`` runs it."""
