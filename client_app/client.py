"""The one client this app serves, as a ``b2brec.context.ClientContext``, plus the app's own view.

Every domain reaches the client through ``current_client()``; nothing else reads settings or
opens a project. ``context_with(spec)`` gives a context for the same client with the sources and
mappings configured in the app (what the ETL and the connection test run on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import cast

from flask import current_app

from b2brec.backends.factory import ClientBackends
from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import Warehouse
from b2brec.context import ClientContext, client_context, context_for_spec
from b2brec.errors import B2BRecError
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, parse_spec
from client_app.config import AppConfig


@dataclass
class ClientRuntime:
    """The client's context (spec, settings, lazy backends) and its service URLs."""

    config: AppConfig
    settings: Settings

    @cached_property
    def context(self) -> ClientContext:
        if self.config.client_spec:
            spec = parse_spec(json.loads(self.config.client_spec), origin="B2BREC_CLIENT_SPEC")
            return context_for_spec(spec, self.settings, name=self.config.client or spec.project_id)
        return client_context(self.config.client or "", self.settings)

    def context_with(self, spec: ClientSpec) -> ClientContext:
        return context_for_spec(spec, self.settings, name=self.context.name)

    @property
    def base_spec(self) -> ClientSpec:
        return self.context.spec

    @property
    def backends(self) -> ClientBackends:
        return self.context.backends

    @property
    def name(self) -> str:
        return self.context.project_id

    @property
    def warehouse(self) -> Warehouse:
        return self.backends.warehouse

    def storage(self, purpose: str) -> ObjectStore:
        return self.backends.storage(purpose)

    @property
    def serving_url(self) -> str:
        if self.config.serving_url:
            return self.config.serving_url.rstrip("/")
        url = self.backends.service_url("serving")
        if url is None:
            raise B2BRecError("the serving URL is not configured; set B2BREC_APP_SERVING_URL", code="invalid_settings")
        return url

    @property
    def mlflow_url(self) -> str:
        return (self.config.mlflow_url or self.context.mlflow_uri).rstrip("/")


def current_client() -> ClientRuntime:
    return cast(ClientRuntime, current_app.extensions["b2brec_client"])
