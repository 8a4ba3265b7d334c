"""A local client project: one folder under ``B2BREC_HOME/clients/{project-id}/`` holding that
client's warehouse, buckets, secrets and databases. Nothing is shared between two clients.

Layout::

    {project-id}/
      project.json          spec, template version, ports and URLs of its services
      warehouse.duckdb      datasets raw_data, features, ml_datasets, predictions
      buckets/{project-id}-{purpose}/
      buckets/{project-id}-data/uploads/   the client's upload area: the only place file sources read
      secrets.enc           Fernet-encrypted secrets (key under B2BREC_HOME/keys/)
      db/                   SQLite app and MLflow databases
      etl/                  dlt pipeline state
      jobs/                 subprocess job runs (logs, exit codes)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from b2brec.backends.jobs import SubprocessJobRunner
from b2brec.backends.secrets import LocalSecretStore
from b2brec.backends.storage import ObjectStore
from b2brec.backends.warehouse import DuckDBWarehouse
from b2brec.errors import B2BRecError
from b2brec.naming import BUCKET_PURPOSES
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, parse_spec
from b2brec.spec.identity import Identity, IdentityCollision, collision
from b2brec.spec.loader import environment_path

UPLOADS_PREFIX = "uploads"
"""Key prefix of the upload area in the client's ``data`` bucket (locally a folder, on GCP the bucket)."""

ADMIN_TOKEN_SECRET = "serving-admin-token"
"""The serving API's /admin bearer token (``ServingSettings.admin_token_secret``): created at random
with the project, so a local client's admin API is never open (issue 10, B1)."""

SERVICES: tuple[str, ...] = ("client_app", "serving", "mlflow")
_PORT_BASE = 18000
_PORT_STRIDE = 10


class ProjectNotFound(B2BRecError):
    code = "project_not_found"


def upload_area(spec: ClientSpec, settings: Settings) -> Path:
    """The local folder a client's file sources are confined to (it need not exist yet)."""
    return settings.clients_dir / spec.project_id / "buckets" / spec.bucket("data") / UPLOADS_PREFIX


@dataclass(frozen=True)
class LocalClientProject:
    """Paths and backends of one local client project."""

    root: Path
    spec: ClientSpec
    home: Path
    ports: dict[str, int]
    created_at: str
    environment: str | None = None
    """Name of the environments/*.yaml file it was created from (``demo-dev``), if any."""

    @property
    def project_id(self) -> str:
        return self.spec.project_id

    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def etl_dir(self) -> Path:
        return self.root / "etl"

    @property
    def db_dir(self) -> Path:
        return self.root / "db"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def uploads_dir(self) -> Path:
        """The client's upload area: file sources (CSV, Parquet, SQLite) may only read here."""
        return self.bucket_path("data") / UPLOADS_PREFIX

    def identity(self, settings: Settings) -> Identity:
        origin = (
            str(environment_path(settings.environments_dir, self.environment))
            if self.environment
            else str(_project_file(self.root))
        )
        return Identity(self.spec, origin, self.environment)

    def bucket_path(self, purpose: str) -> Path:
        return self.root / "buckets" / self.spec.bucket(purpose)

    def urls(self) -> dict[str, str]:
        return {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}

    # --- backends ------------------------------------------------------------------------
    def warehouse(self, *, read_only: bool = False) -> DuckDBWarehouse:
        return DuckDBWarehouse(self.warehouse_path, read_only=read_only)

    def storage(self, purpose: str) -> ObjectStore:
        return ObjectStore(self.bucket_path(purpose).as_uri())

    def secrets(self) -> LocalSecretStore:
        return LocalSecretStore(self.root / "secrets.enc", self.home / "keys" / f"{self.project_id}.key")

    def jobs(self) -> SubprocessJobRunner:
        """Jobs run as subprocesses that find this project again: under this platform home (an ETL job
        opens the project by its id), whatever the submitting process's environment says."""
        return SubprocessJobRunner(self.root / "jobs", env={"B2BREC_HOME": str(self.home)})

    def describe(self) -> dict[str, object]:
        return {
            "project_id": self.project_id,
            "client_id": self.spec.client_id,
            "env": self.spec.env,
            "environment": self.environment,
            "template_version": self.spec.template_version,
            "root": str(self.root),
            "warehouse": str(self.warehouse_path),
            "buckets": {p: self.storage(p).url() for p in BUCKET_PURPOSES},
            "urls": self.urls(),
        }


def _project_file(root: Path) -> Path:
    return root / "project.json"


def _next_ports(settings: Settings) -> dict[str, int]:
    used = {port for project in list_projects(settings) for port in project.ports.values()}
    slot = 0
    while True:
        base = _PORT_BASE + slot * _PORT_STRIDE
        ports = {name: base + i for i, name in enumerate(SERVICES)}
        if not used & set(ports.values()) and all(_port_free(port) for port in ports.values()):
            return ports
        slot += 1


def _port_free(port: int) -> bool:
    """Nothing listens on ``port`` now (another program, or another home's project, may hold it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _write_json_atomic(path: Path, payload: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def create_project(
    spec: ClientSpec, settings: Settings, *, environment: str | None = None, ports: dict[str, int] | None = None
) -> LocalClientProject:
    """Create (or update in place) the local client project for ``spec``. Idempotent: data in
    an existing project is kept, its spec and template version are refreshed. ``environment`` names
    the environments/*.yaml file, so commands can find the project by that name too. ``ports``
    overrides the ports picked for its services (e.g. free ports on a shared machine)."""
    root = settings.clients_dir / spec.project_id
    origin = str(environment_path(settings.environments_dir, environment)) if environment else "the spec given"
    new = Identity(spec, origin, environment)
    existing = None
    for other in list_projects(settings):
        problem = collision(new, other.identity(settings))
        if problem is not None:
            raise IdentityCollision(problem)
        if other.root == root:
            existing = other
    if ports is not None:
        unknown = sorted(set(ports) - set(SERVICES))
        bad = sorted(name for name, port in ports.items() if not 1024 <= port <= 65535)
        if unknown or bad:
            raise B2BRecError(
                f"ports: unknown services {unknown} or ports outside 1024-65535 for {bad}; "
                f"give ports for {', '.join(SERVICES)}",
                code="invalid_ports",
            )
    ports = {**(existing.ports if existing else _next_ports(settings)), **(ports or {})}
    created_at = existing.created_at if existing else datetime.now(UTC).isoformat()
    environment = environment or (existing.environment if existing else None)
    project = LocalClientProject(
        root=root, spec=spec, home=settings.home, ports=ports, created_at=created_at, environment=environment
    )
    for folder in (project.etl_dir, project.db_dir, project.logs_dir, root / "jobs"):
        folder.mkdir(parents=True, exist_ok=True)
    for purpose in BUCKET_PURPOSES:
        project.bucket_path(purpose).mkdir(parents=True, exist_ok=True)
    project.uploads_dir.mkdir(parents=True, exist_ok=True)
    project.warehouse().ensure_datasets(spec.datasets)
    store = project.secrets()
    if not store.exists(ADMIN_TOKEN_SECRET):  # an operator's own token (even a bad one) is left alone
        store.put(ADMIN_TOKEN_SECRET, secrets.token_urlsafe(32))
    _write_json_atomic(
        _project_file(root),
        {
            "spec": spec.model_dump(mode="json"),
            "ports": ports,
            "created_at": created_at,
            "environment": environment,
            "updated_at": datetime.now(UTC).isoformat(),
        },
    )
    return project


def update_spec(project: LocalClientProject, spec: ClientSpec, *, environment: str | None = None) -> LocalClientProject:
    """Record a new spec for an existing project in its ``project.json``, touching nothing else: its
    services may hold the warehouse open meanwhile (use ``create_project`` when datasets change).

    Only the same client and env may replace the spec: another client whose display name maps to this
    project id would otherwise take over its warehouse, models and secrets (issue 10, case 1).
    ``environment`` names the file the new spec came from, for the error."""
    if spec.project_id != project.project_id:
        raise B2BRecError(
            f"spec of {spec.project_id} cannot replace {project.project_id}'s; create that project instead",
            code="invalid_spec",
        )
    if (spec.client_id, spec.env) != (project.spec.client_id, project.spec.env):
        here = f"{project.environment}.yaml" if project.environment else str(_project_file(project.root))
        new = Identity(spec, f"{environment}.yaml" if environment else "the spec given", environment)
        problem = collision(new, Identity(project.spec, here, project.environment))
        raise IdentityCollision(problem or f"{new.describe()} is not the client of project {project.project_id}")
    path = _project_file(project.root)
    payload = json.loads(path.read_text())
    payload.update(spec=spec.model_dump(mode="json"), updated_at=datetime.now(UTC).isoformat())
    _write_json_atomic(path, payload)
    return replace(project, spec=spec)


def set_template_version(project: LocalClientProject, version: str) -> LocalClientProject:
    """Record the template version the project runs (spec ``template_version``) in ``project.json``."""
    return update_spec(project, project.spec.model_copy(update={"template_version": version}))


def _read(root: Path, settings: Settings) -> LocalClientProject:
    payload = json.loads(_project_file(root).read_text())
    spec = parse_spec(payload["spec"], origin=str(_project_file(root)))
    return LocalClientProject(
        root=root,
        spec=spec,
        home=settings.home,
        ports=payload["ports"],
        created_at=payload["created_at"],
        environment=payload.get("environment"),
    )


def list_projects(settings: Settings) -> list[LocalClientProject]:
    if not settings.clients_dir.is_dir():
        return []
    return [_read(p, settings) for p in sorted(settings.clients_dir.iterdir()) if _project_file(p).exists()]


class ProjectAmbiguous(B2BRecError):
    code = "client_ambiguous"


def names_of(project: LocalClientProject) -> set[str]:
    """Every name a project answers to: its project id, the environment file it came from (``demo-dev``),
    its ``{name}-{env}`` and its client id."""
    return set(Identity(project.spec, str(project.root), project.environment).names)


def find_project(name: str, settings: Settings) -> LocalClientProject:
    """The one project called ``name`` (exact match on any of :func:`names_of`).

    A project id always wins (it is unique); any other name that two projects answer to is refused
    with both project ids, instead of silently picking the first."""
    projects = list_projects(settings)
    by_id = [p for p in projects if p.project_id == name]
    matches = by_id or [p for p in projects if name in names_of(p)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        both = " and ".join(p.identity(settings).describe() for p in matches[:2])
        raise ProjectAmbiguous(f"{name!r} names {len(matches)} local client projects: {both}; use the project id")
    known = ", ".join(p.project_id for p in projects) or "none yet; run `b2brec client create --env NAME`"
    raise ProjectNotFound(f"no local client project {name!r} (known: {known})")


def open_project(name: str, settings: Settings) -> LocalClientProject:
    """Find a project by project id, client id or the environment file it came from (``demo-dev``)."""
    return find_project(name, settings)


def delete_project(name: str, settings: Settings) -> None:
    project = open_project(name, settings)
    shutil.rmtree(project.root)
    key = project.secrets().key_path
    if key.exists():
        key.unlink()
