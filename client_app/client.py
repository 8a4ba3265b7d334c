"""The one client this app serves: its spec, backends and service URLs, resolved once per process.

Every domain reaches the client through ``current_client()``; nothing else reads settings or
opens a project.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import cast

from flask import current_app

from b2brec.backends.factory import ClientBackends, backends_for
from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import Warehouse
from b2brec.errors import B2BRecError
from b2brec.projects.local import LocalClientProject, open_project
from b2brec.settings import Backend, Settings
from b2brec.spec import ClientSpec, load_environment, parse_spec
from client_app.config import AppConfig


@dataclass
class ClientRuntime:
    """Spec, backends and URLs of the app's client."""

    config: AppConfig
    settings: Settings

    @cached_property
    def project(self) -> LocalClientProject | None:
        if self.settings.backend is Backend.LOCAL:
            return open_project(self.config.client, self.settings)
        return None

    @cached_property
    def base_spec(self) -> ClientSpec:
        if self.config.client_spec:
            return parse_spec(json.loads(self.config.client_spec), origin="B2BREC_CLIENT_SPEC")
        if self.project is not None:
            return self.project.spec
        return load_environment(self.settings.environments_dir, self.config.client)

    @cached_property
    def backends(self) -> ClientBackends:
        return backends_for(self.base_spec, self.settings)

    @property
    def name(self) -> str:
        return self.base_spec.project_id

    @property
    def warehouse(self) -> Warehouse:
        if self.project is not None:
            return self.project.warehouse(read_only=False)
        return self.backends.warehouse

    def storage(self, purpose: str) -> ObjectStore:
        return self.backends.storage(purpose)

    def _url(self, explicit: str | None, service: str) -> str:
        if explicit:
            return explicit.rstrip("/")
        if self.project is None:
            raise B2BRecError(
                f"the {service} URL is not configured; set B2BREC_APP_{service.upper()}_URL", code="invalid_settings"
            )
        return self.project.urls()[service]

    @property
    def serving_url(self) -> str:
        return self._url(self.config.serving_url, "serving")

    @property
    def mlflow_url(self) -> str:
        return self._url(self.config.mlflow_url, "mlflow")


def current_client() -> ClientRuntime:
    return cast(ClientRuntime, current_app.extensions["b2brec_client"])
