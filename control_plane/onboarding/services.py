"""The onboarding wizard's logic: each step validates its answers, saves them on the draft and
says which step comes next. The source password goes straight into the control plane's secret
store; the draft keeps only the secret's name.

Steps: company → region → source → test → mapping → review → provision.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import ValidationError

from b2brec import naming
from b2brec.backends.secrets import SecretStore
from b2brec.errors import B2BRecError
from b2brec.etl.checks import inspect_sources
from b2brec.etl.errors import EtlError, classify_connect_error
from b2brec.etl.sources import SourceHandle, resolve_source
from b2brec.features import PLATFORM_TABLES
from b2brec.progress import ProgressEvent
from b2brec.security.hosts import check_host
from b2brec.settings import Settings
from b2brec.spec import ClientSpec, SourceConnection, SourceKind, TableMapping
from b2brec.spec.infra import BudgetSettings, InfraSettings
from control_plane.audit import services as audit
from control_plane.clients.models import Client
from control_plane.errors import ControlPlaneError
from control_plane.extensions import db
from control_plane.onboarding.introspect import preview_rows, propose_mapping, read_schema
from control_plane.onboarding.models import OnboardingDraft
from control_plane.timeutil import utcnow
from provisioning.base import Planner, Provisioner

STEPS: tuple[str, ...] = ("company", "region", "source", "test", "mapping", "review", "provision")
SOURCE_NAME = "erp"
SERVER_KINDS = (SourceKind.POSTGRESQL, SourceKind.MYSQL, SourceKind.MSSQL)
_TEXT = re.compile(r"^[\w .,&'()/+-]{1,120}$", re.UNICODE)
_DB_IDENT = re.compile(r"^[A-Za-z0-9_$-]{1,63}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _bad(message: str, fix: str) -> ControlPlaneError:
    return ControlPlaneError(message, code="invalid_input", fix=fix)


def password_secret_name(draft_id: int) -> str:
    return f"onboarding-{draft_id}-{SOURCE_NAME}-password"


class DraftSecrets:
    """The client-to-be's secret store view: ``erp-password`` reads the draft's stored password."""

    def __init__(self, store: SecretStore, draft_id: int) -> None:
        self.store = store
        self.draft_id = draft_id

    def _name(self, name: str) -> str:
        return password_secret_name(self.draft_id) if name == f"{SOURCE_NAME}-password" else name

    def put(self, name: str, value: str) -> None:
        self.store.put(self._name(name), value)

    def get(self, name: str) -> str:
        return self.store.get(self._name(name))

    def exists(self, name: str) -> bool:
        return self.store.exists(self._name(name))

    def delete(self, name: str) -> None:
        self.store.delete(self._name(name))


def start(operator: str) -> OnboardingDraft:
    draft = OnboardingDraft(operator=operator, step="company", data={})
    db.session.add(draft)
    db.session.commit()
    return draft


def get(draft_id: int) -> OnboardingDraft:
    draft = db.session.get(OnboardingDraft, draft_id)
    if draft is None or draft.status == "discarded":
        raise ControlPlaneError(f"no onboarding draft {draft_id}", code="not_found", fix="start a new onboarding")
    return draft


def _save(draft: OnboardingDraft, key: str, value: Any, next_step: str) -> OnboardingDraft:
    data = dict(draft.data or {})
    data[key] = value
    draft.data = data
    draft.step = next_step
    db.session.commit()
    return draft


# --- step 1: company and environment -------------------------------------------------------------
def save_company(draft: OnboardingDraft, *, name: str, client_id: str, env: str) -> OnboardingDraft:
    name = name.strip()
    if not _TEXT.match(name):
        raise _bad(
            "the company name is empty, too long or has unusual characters", "use letters, digits, spaces, & . , -"
        )
    slug = naming.sanitize_name(name)
    client_id = (client_id.strip() or slug[:36]).lower()
    if not re.match(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$", client_id):
        raise _bad(
            "the client id is not valid", "use 3-40 lowercase letters, digits and hyphens, starting with a letter"
        )
    if env not in naming.ENVIRONMENTS:
        raise _bad("unknown environment", f"use one of {list(naming.ENVIRONMENTS)}")
    try:
        project = naming.project_id(slug, env)
    except ValueError:
        raise _bad("the company name leaves nothing for the project id", "use a name with letters or digits") from None
    taken = db.session.scalar(sa.select(Client).where((Client.client_id == client_id) | (Client.project_id == project)))
    if taken is not None:
        raise ControlPlaneError(
            f"client {client_id} (project {project}) is already registered",
            code="conflict",
            fix="pick another client id or name, or open the existing client",
        )
    return _save(draft, "company", {"name": name, "client_id": client_id, "env": env}, "region")


# --- step 2: region and budget -------------------------------------------------------------------
def save_region(draft: OnboardingDraft, *, region: str, budget: str, currency: str) -> OnboardingDraft:
    if not re.match(r"^[a-z]+-[a-z]+\d+$", region):
        raise _bad("that is not a GCP region", "use a region such as europe-west1 or us-central1")
    try:
        amount = int(float(budget))
    except ValueError:
        raise _bad("the monthly budget is not a number", "enter a whole amount such as 300") from None
    if not 1 <= amount <= 10_000_000:
        raise _bad("the monthly budget is out of range", "enter an amount between 1 and 10,000,000")
    currency = currency.strip().upper()
    if not _CURRENCY.match(currency):
        raise _bad("that is not a currency code", "use an ISO 4217 code such as EUR or USD")
    return _save(draft, "region", {"region": region, "budget": amount, "currency": currency}, "source")


# --- step 3: source connection -------------------------------------------------------------------
def save_source(
    draft: OnboardingDraft,
    fields: dict[str, str],
    *,
    secrets: SecretStore,
    settings: Settings,
) -> OnboardingDraft:
    """Validate the connection fields; the host through the shared hostile-host rules with the
    operator's allow-list for this client (``B2BREC_SOURCE_HOSTS_ALLOWED``). Nothing is saved (not
    even the password) when any field is refused."""
    try:
        kind = SourceKind(fields.get("kind", ""))
    except ValueError:
        kind = None
    if kind not in SERVER_KINDS:
        raise _bad("unsupported source kind", f"use one of {[k.value for k in SERVER_KINDS]}")
    port_text = fields.get("port", "").strip()
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise _bad("the port is not a number between 1 and 65535", "leave it empty for the default port")
        port = int(port_text)
    for key in ("database", "username"):
        if not _DB_IDENT.match(fields.get(key, "").strip()):
            raise _bad(f"the {key} is empty or has unusual characters", "use letters, digits, _ $ -")
    schema = fields.get("db_schema", "").strip() or None
    if schema is not None and not _DB_IDENT.match(schema):
        raise _bad("the schema has unusual characters", "use letters, digits, _ $ - (or leave it empty)")
    password = fields.get("password", "")
    if len(password) > 1024 or any(c in password for c in "\r\n\x00"):
        raise _bad("the password is too long or has line breaks", "paste the password on one line")
    company = (draft.data or {}).get("company") or {}
    if not company:
        raise _bad("the company step is not done yet", "fill in the company step first")
    host = check_host(fields.get("host", "").strip(), port, allowed=settings.allowed_hosts(company["client_id"])).host
    existing = dict((draft.data or {}).get("source") or {})
    source = {
        "kind": kind.value,
        "host": host,
        "port": port,
        "database": fields["database"].strip(),
        "db_schema": schema,
        "username": fields["username"].strip(),
        "password_secret": f"{SOURCE_NAME}-password" if (password or existing.get("password_secret")) else None,
    }
    if password:
        secrets.put(password_secret_name(draft.id), password)
    data = dict(draft.data or {})
    data.pop("mapping", None)
    data.pop("checks", None)
    draft.data = data
    return _save(draft, "source", source, "test")


def source_connection(draft: OnboardingDraft) -> SourceConnection:
    source = (draft.data or {}).get("source")
    if not source:
        raise _bad("the source connection is not set yet", "fill in the source step first")
    return SourceConnection(**source)


@contextmanager
def open_source(draft: OnboardingDraft, settings: Settings, secrets: SecretStore) -> Iterator[SourceHandle]:
    spec = build_spec(draft, version="0.0.0")
    handle = resolve_source(SOURCE_NAME, source_connection(draft), DraftSecrets(secrets, draft.id), spec, settings)
    try:
        yield handle
    finally:
        handle.dispose()


# --- step 4: connection test and proposed mapping ------------------------------------------------
def run_test(draft: OnboardingDraft, settings: Settings, secrets: SecretStore) -> list[dict[str, Any]]:
    """Connect, read the schema, propose a mapping (kept unless the operator already edited one)
    and check every mapped table; the per-check results (with fixes) are saved on the draft."""
    checks: list[dict[str, Any]] = []
    data = dict(draft.data or {})
    try:
        with open_source(draft, settings, secrets) as handle:
            schema = read_schema(handle)
    except EtlError as exc:
        checks.append({"target": "connection", "ok": False, "detail": exc.message, "fix": exc.fix or ""})
        return _save_checks(draft, checks, data)
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        code = classify_connect_error(exc)
        checks.append(
            {"target": "connection", "ok": False, "detail": _connect_message(code), "fix": _connect_fix(code)}
        )
        return _save_checks(draft, checks, data)
    data["schema"] = schema.tables
    if not data.get("mapping"):
        data["mapping"] = {k: v.model_dump() for k, v in propose_mapping(schema, SOURCE_NAME).items()}
    draft.data = data
    return _save_checks(draft, _table_checks(draft, settings, secrets), data)


def _connect_message(code: str) -> str:
    return {
        "bad_credentials": "the database refused the user name or password",
        "host_unreachable": "the database server could not be reached in time",
        "unknown_database": "the database does not exist on that server",
    }.get(code, "could not connect to the database")


def _connect_fix(code: str) -> str:
    return {
        "bad_credentials": "check the user name and re-enter the password in the source step",
        "host_unreachable": "check host and port, that the server runs, and that its firewall lets the platform in",
        "unknown_database": "correct the database name in the source step",
    }.get(code, "check the source settings")


def _save_checks(draft: OnboardingDraft, checks: list[dict[str, Any]], data: dict[str, Any]) -> list[dict[str, Any]]:
    data["checks"] = checks
    draft.data = data
    draft.step = "mapping" if checks and all(c["ok"] for c in checks) else "test"
    db.session.commit()
    return checks


def _table_checks(draft: OnboardingDraft, settings: Settings, secrets: SecretStore) -> list[dict[str, Any]]:
    mapping = (draft.data or {}).get("mapping") or {}
    if "transactions" not in mapping:
        return [
            {
                "target": "connection",
                "ok": True,
                "detail": "connected; no sales table was recognised",
                "fix": "",
            },
            {
                "target": "transactions",
                "ok": False,
                "detail": "no table was proposed for transactions",
                "fix": "choose the sales table and its columns in the mapping step",
            },
        ]
    try:
        spec = build_spec(draft, version="v0")
    except ControlPlaneError as exc:
        return [{"target": "mapping", "ok": False, "detail": exc.message, "fix": exc.fix}]
    report, _, handles = inspect_sources(spec, settings, DraftSecrets(secrets, draft.id), list(spec.mapping))
    for handle in handles:
        handle.dispose()
    return [{k: v for k, v in asdict(c).items() if k in {"target", "ok", "detail", "fix"}} for c in report.checks]


# --- step 5: mapping ---------------------------------------------------------------------------
def save_mapping(
    draft: OnboardingDraft, form: dict[str, str], settings: Settings, secrets: SecretStore
) -> list[dict[str, Any]]:
    """``form`` has ``{table}.table`` and ``{table}.{column}`` entries (empty = not mapped); every
    named table and column must exist in the introspected schema."""
    schema: dict[str, list[str]] = (draft.data or {}).get("schema") or {}
    if not schema:
        raise _bad("the source schema has not been read yet", "run the connection test first")
    mapping: dict[str, dict[str, Any]] = {}
    for platform_name, platform in PLATFORM_TABLES.items():
        table = form.get(f"{platform_name}.table", "").strip()
        if not table:
            continue
        if table not in schema:
            raise _bad(f"{platform_name}: table not found in the source", "choose a table from the list")
        columns: dict[str, str] = {}
        for column in platform.column_names:
            chosen = form.get(f"{platform_name}.{column}", "").strip()
            if not chosen:
                continue
            if chosen not in schema[table]:
                raise _bad(f"{platform_name}.{column}: column not found in {table}", "choose a column from the list")
            columns[column] = chosen
        cursor = "updated_at" if "updated_at" in columns else None
        mapping[platform_name] = {"source": SOURCE_NAME, "table": table, "columns": columns, "cursor": cursor}
    data = dict(draft.data or {})
    previous = data.get("mapping")
    data["mapping"] = mapping
    draft.data = data
    try:
        build_spec(draft, version="v0")
    except ControlPlaneError:
        data["mapping"] = previous
        draft.data = data
        db.session.rollback()
        raise
    checks = _table_checks(draft, settings, secrets)
    data["checks"] = checks
    draft.data = data
    draft.step = "review" if all(c["ok"] for c in checks) else "mapping"
    db.session.commit()
    return checks


def previews(draft: OnboardingDraft, settings: Settings, secrets: SecretStore) -> dict[str, list[dict[str, Any]]]:
    mapping = (draft.data or {}).get("mapping") or {}
    out: dict[str, list[dict[str, Any]]] = {}
    try:
        with open_source(draft, settings, secrets) as handle:
            for name, table_map in mapping.items():
                try:
                    out[name] = preview_rows(handle, name, TableMapping(**table_map))
                except (B2BRecError, sa.exc.SQLAlchemyError):
                    out[name] = []
    except (B2BRecError, sa.exc.SQLAlchemyError, OSError):
        return {}
    return out


# --- step 6: review -------------------------------------------------------------------------------
def build_spec(draft: OnboardingDraft, *, version: str) -> ClientSpec:
    data = draft.data or {}
    company, region, source = data.get("company"), data.get("region"), data.get("source")
    if not (company and region and source):
        raise _bad("the wizard is not complete", "fill in company, region and source first")
    try:
        return ClientSpec(
            client_id=company["client_id"],
            name=company["name"],
            env=company["env"],
            region=region["region"],
            template_version=version,
            created=date.today(),
            sources={SOURCE_NAME: SourceConnection(**source)},
            mapping={k: TableMapping(**v) for k, v in (data.get("mapping") or {}).items()},
            infra=InfraSettings(budget=BudgetSettings(amount=region["budget"], currency=region["currency"])),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise _bad(f"{where}: {first['msg']}", "correct that field in the wizard") from None


def spec_yaml(spec: ClientSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=False), sort_keys=False)


def spec_digest(spec: ClientSpec) -> str:
    """Identifies what a plan was made of: a plan of another spec or version is not this client's plan."""
    return hashlib.sha256(spec_yaml(spec).encode()).hexdigest()[:16]


def plans(provisioner: Provisioner) -> bool:
    """Whether provisioning shows a plan before it changes anything (Terraform on GCP)."""
    return isinstance(provisioner, Planner)


def _set_plan(draft: OnboardingDraft, **changes: Any) -> dict[str, Any]:
    data = dict(draft.data or {})
    plan = {**(data.get("plan") or {}), **changes}
    data["plan"] = plan
    draft.data = data
    db.session.commit()
    return plan


def queue_plan(draft: OnboardingDraft, provisioner: Provisioner, *, version: str, actor: str) -> dict[str, Any]:
    """Record a plan of the draft's spec on ``version`` as queued (the caller hands it to the worker)."""
    if not plans(provisioner):
        raise ControlPlaneError(
            "this platform provisions without a plan step", code="invalid_input", fix="provision from the review page"
        )
    spec = build_spec(draft, version=version)
    data = dict(draft.data or {})
    data.pop("plan", None)
    draft.data = data
    return _set_plan(
        draft,
        status="queued",
        digest=spec_digest(spec),
        version=version,
        step="",
        summary=None,
        error=None,
        actor=actor,
        queued_at=utcnow().isoformat(),
    )


def current_plan(draft: OnboardingDraft, version: str) -> dict[str, Any] | None:
    """The draft's plan if it was made of the spec the draft would provision now, else None."""
    plan = (draft.data or {}).get("plan")
    try:
        digest = spec_digest(build_spec(draft, version=version))
    except ControlPlaneError:
        return None
    return plan if plan and plan.get("digest") == digest and plan.get("version") == version else None


def run_plan(provisioner: Provisioner, draft_id: int) -> dict[str, Any]:
    """The plan job: ``terraform init`` and ``plan`` of the draft's synthesized stack and the summary of
    the saved plan, with the current terraform step recorded as it runs (the review page polls it)."""
    draft = get(draft_id)
    plan = dict((draft.data or {}).get("plan") or {})
    if not plan or plan.get("status") == "succeeded":
        return plan
    if not isinstance(provisioner, Planner):
        return _set_plan(draft, status="failed", error="this platform's provisioner has no plan step")
    spec = build_spec(draft, version=str(plan["version"]))
    _set_plan(draft, status="running", step="synth", started_at=utcnow().isoformat())

    def on_event(event: ProgressEvent) -> None:
        if event.kind == "start" and event.stage != "synth":
            _set_plan(draft, step=event.stage)

    try:
        summary = provisioner.plan(spec, str(plan["version"]), on_event=on_event)
    except B2BRecError as exc:
        return _set_plan(draft, status="failed", error=exc.message, fix=exc.fix or "")
    except Exception as exc:  # noqa: BLE001 - recorded on the draft, never shown with a trace
        step = ((draft.data or {}).get("plan") or {}).get("step", "")
        return _set_plan(draft, status="failed", error=f"{type(exc).__name__} during {step}", fix="see the worker log")
    return _set_plan(draft, status="succeeded", step="done", summary=summary.to_dict(), ended_at=utcnow().isoformat())


def register_client(draft: OnboardingDraft, *, version: str) -> Client:
    """Turn a reviewed draft into a client row (status provisioning); audited."""
    spec = build_spec(draft, version=version)
    if not spec.mapping:
        raise _bad("no tables are mapped", "map at least the transactions table")
    client = Client(
        client_id=spec.client_id,
        name=spec.name,
        env=spec.env,
        region=spec.region,
        project_id=spec.project_id,
        template_version=version,
        budget_amount=float(spec.infra.budget.amount),
        budget_currency=spec.infra.budget.currency or "EUR",
        spec_yaml=spec_yaml(spec),
        status="provisioning",
        urls={},
    )
    db.session.add(client)
    draft.status = "submitted"
    draft.step = "provision"
    audit.record("client.onboard", "client", spec.client_id, after=client.summary())
    db.session.commit()
    return client
