"""One client context: a client name resolved to its spec, its settings and its (lazy) backends.

Every caller that acts for one client (the ETL job, serving, the pipeline, the CLI, the apps)
starts here::

    ctx = client_context("demo-dev", Settings())
    ctx.spec.project_id          # the validated ClientSpec
    ctx.backends.warehouse       # built on first use, then reused
    ctx.backends.storage("models")
    ctx.mlflow_uri               # the client's MLflow tracking server

The name is matched exactly (an environment file name such as ``demo-dev``, a project id, or a
client id that only one client has); a name two clients answer to is refused, never guessed.
Which backend answers is decided once, in :mod:`b2brec.backends.factory`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from b2brec.backends.factory import ClientBackends, backends_for, find_client_spec
from b2brec.errors import B2BRecError
from b2brec.settings import Settings
from b2brec.spec import ClientSpec


@dataclass(frozen=True)
class ClientContext:
    """Everything a service needs to act for one client."""

    name: str
    """The name the caller used (``demo-dev``); ``spec.project_id`` is the canonical one."""
    spec: ClientSpec
    settings: Settings
    backends: ClientBackends = field(repr=False)

    @property
    def project_id(self) -> str:
        return self.spec.project_id

    @property
    def mlflow_uri(self) -> str:
        """The client's MLflow tracking URL (raises ``invalid_settings`` on GCP when it is not configured)."""
        return self.backends.mlflow_uri


def client_context(name: str, settings: Settings) -> ClientContext:
    """Resolve ``name`` to its client. Raises ``client_not_found``/``project_not_found`` (with the
    known names) or ``client_ambiguous`` (with the candidates)."""
    if not isinstance(name, str) or not name.strip():
        raise B2BRecError(
            "name a client: an environment name such as demo-dev, or a project id", code="invalid_request"
        )
    spec = find_client_spec(name.strip(), settings)
    return context_for_spec(spec, settings, name=name.strip())


def context_for_spec(spec: ClientSpec, settings: Settings, *, name: str | None = None) -> ClientContext:
    """A context for a spec the caller already holds (a job given its spec as JSON, a test's variant)."""
    return ClientContext(
        name=name or spec.project_id, spec=spec, settings=settings, backends=backends_for(spec, settings)
    )
