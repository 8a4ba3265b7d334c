"""The platform's one error model: a domain exception carrying a registered code.

Every code is registered once, here or (for an app's own codes) with :func:`register` in that
app's errors module, with the HTTP status an API answers it with, a short title and a default fix.
The CLI, the serving API and the Flask apps all render an error from the same entry::

    try:
        ...
    except B2BRecError as err:
        return {"status": "error", "message": err.message, "data": {"code": err.code, "fix": err.fix}}, err.http_status

Messages are shown to users as they are, so they must be safe to show: never a
credential, a connection string with a password, or a stack trace.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

STRICT_ENV = "B2BREC_STRICT_ERROR_CODES"
"""Set to ``1`` by the test suite (tests/conftest.py): an unregistered code then fails loudly where it
is raised, instead of being answered as a 500 in production."""


@dataclass(frozen=True)
class ErrorCode:
    """One registered error: how an API answers it and what the user can do about it."""

    code: str
    http_status: int
    title: str
    fix: str | None = None


_REGISTRY: dict[str, ErrorCode] = {}


def register(code: str, http_status: int, title: str, fix: str | None = None) -> ErrorCode:
    """Register ``code`` once; registering it again with a different meaning is a programming error."""
    entry = ErrorCode(code, http_status, title, fix)
    existing = _REGISTRY.get(code)
    if existing is not None and existing != entry:
        raise ValueError(f"error code {code!r} is already registered as {existing}")
    if not 400 <= http_status <= 599:
        raise ValueError(f"error code {code!r}: http_status {http_status} is not a 4xx/5xx status")
    _REGISTRY[code] = entry
    return entry


class UnregisteredCode(LookupError):
    """A code nobody registered (raised only under ``B2BREC_STRICT_ERROR_CODES=1``)."""


def strict_codes() -> bool:
    return os.environ.get(STRICT_ENV, "").lower() in {"1", "true", "yes"}


def lookup(code: str) -> ErrorCode:
    """The registry entry of ``code``. An unregistered code is answered as an internal error (500), or,
    under ``B2BREC_STRICT_ERROR_CODES=1`` (the tests), raises :class:`UnregisteredCode`."""
    entry = _REGISTRY.get(code)
    if entry is not None:
        return entry
    if strict_codes():
        raise UnregisteredCode(
            f"error code {code!r} is not registered; register it in b2brec/errors.py or the app's errors module"
        )
    return ErrorCode(code, 500, "unregistered error")


def registered_codes() -> dict[str, ErrorCode]:
    return dict(_REGISTRY)


class B2BRecError(Exception):
    """Base of every error a user is meant to read and act on.

    Subclasses set a class-level ``code``; a bare ``B2BRecError`` must be given one (``code=...``).
    ``fix`` overrides the registry's default fix for this one occurrence.
    """

    code: str = ""

    def __init__(self, message: str, *, code: str | None = None, fix: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if not self.code:
            raise TypeError(f"{type(self).__name__} needs a registered code (code=...); message was: {message}")
        if strict_codes():
            lookup(self.code)
        self._fix = fix

    @property
    def message(self) -> str:
        return str(self)

    @property
    def entry(self) -> ErrorCode:
        return lookup(self.code)

    @property
    def http_status(self) -> int:
        return self.entry.http_status

    @property
    def fix(self) -> str | None:
        return self._fix or self.entry.fix

    @fix.setter
    def fix(self, value: str | None) -> None:
        self._fix = value


# --- the registry ------------------------------------------------------------------------------
# Grouped by area. A test walks the source for code literals and checks each one is registered.

# generic web errors, shared by the apps (an app passes its own fix= where it knows a better one)
register("invalid_input", 400, "invalid input", "correct the named field and submit again")
register("unauthenticated", 401, "sign in first", "sign in, then retry")
register("forbidden", 403, "not allowed for your role", "ask an admin to change your role")
register("not_found", 404, "not found", "pick an existing item from the list")
register("conflict", 409, "conflicts with the current state", "reload the page and check the current state")
# settings, specs, clients
register("invalid_settings", 500, "invalid platform settings", "check the B2BREC_* environment variables")
register(
    "invalid_spec", 422, "invalid client spec", "correct the named field of the environments/*.yaml file and retry"
)
register("invalid_request", 422, "invalid request", "correct the named option or field and retry")
register("client_not_found", 404, "unknown client", "use a name from the list shown, or create the client first")
register("client_ambiguous", 409, "ambiguous client name", "use the project id, which is unique")
register("invalid_ports", 422, "invalid service ports", "give NAME=PORT with a port in 1024-65535")
register("project_not_found", 404, "no local client project", "create it with `b2brec client create --env NAME`")
# secrets
register("secret_error", 500, "secrets backend error", "check the secrets backend is reachable and readable")
register("secret_not_found", 404, "secret not found", "store it with `b2brec secrets set NAME --client CLIENT`")
# ETL (one code per thing a business user can fix; b2brec/etl/errors.py)
register("etl_error", 500, "ETL error")
register("secret_missing", 422, "source password not stored", "store it with `b2brec secrets set NAME --client C`")
register("bad_credentials", 422, "the source refused the credentials", "check the user name and stored password")
register("host_unreachable", 502, "source host unreachable", "check host, port and firewall rules")
register("unknown_database", 422, "source database not found", "check the database name in the connection")
register("missing_table", 422, "source table not found", "check the table name in the mapping")
register("missing_column", 422, "source column not found", "check the column names in the mapping")
register("wrong_column_type", 422, "source column has the wrong type", "map a column of the expected type")
register("missing_file", 422, "source file not found", "check the file path or upload the file")
register("source_error", 502, "source error", "see the error log; check the source settings")
register("load_failed", 500, "the load failed", "run `b2brec etl test-connection` and retry")
register(
    "first_load_failed",
    502,
    "the client's first ETL run failed",
    "open the execution's log (link in the message), fix the source or mapping, then resume the job",
)
# jobs, pipeline, data
register("job_error", 500, "pipeline job error", "see the job's log")
register("pipeline_error", 500, "pipeline error", "see the run's state and the failed stage's log")
register("invalid_data", 422, "the data cannot train a model", "widen the window or load more data")
register("invalid_bundle", 404, "model bundle not found or invalid", "train a model or pick an existing version")
register("no_model", 404, "no trained model", "run the pipeline first (`b2brec pipeline run --client C`)")
register("schedule_error", 502, "the schedule could not be changed", "retry; check the client's scheduler")
register("version_conflict", 409, "changed by someone else meanwhile", "reload it and retry")
# live model version (b2brec/live.py)
register(
    "live_version_error", 409, "the live model version cannot be changed", "pick a version that has a serving bundle"
)
# serving
register("model_not_loaded", 503, "no model loaded", "deploy a model version")
register("deploy_failed", 409, "deploy failed", "check the version exists and is a valid bundle")
register("unauthorized", 401, "unauthorized", "send a valid API key or admin token")
register("admin_disabled", 403, "admin API disabled", "store a value in the serving-admin-token secret")
register("api_disabled", 403, "recommendations disabled", "add an API key (secret serving-api-keys)")
register("service_failed", 502, "a local service failed to start", "see the service's log file")
# infrastructure
register("invalid_infra_props", 422, "invalid infrastructure properties", "correct the named property")
register("synth_failed", 500, "synthesis failed", "see the message; fix the spec or the stack")
register("terraform_missing", 500, "terraform is not installed", "install terraform >= 1.6 and put it on PATH")
register("terraform_failed", 500, "terraform failed", "see the captured terraform log")
# template versions pinned to the stacks code they were published from (provisioning/templates.py)
register(
    "template_source_mismatch",
    409,
    "template version published from other stacks code",
    "apply it from the checkout or control plane image it was published from, or publish a new version from this one",
)
register(
    "template_source_unknown",
    409,
    "template version records no stacks source",
    "publish a new version (`b2brec template release`); it records the stacks code it is made of",
)
# hostile input (b2brec/security, docs/security.md)
register(
    "host_refused",
    422,
    "database host refused",
    "use the database's public DNS name or IP; a private network must be enabled for the client by the operator",
)
register(
    "path_refused", 422, "file path refused", "put the files in the client's upload area; paths are relative to it"
)
register("bad_file", 422, "the file cannot be parsed", "export the file again as valid CSV/Parquet")
register(
    "identity_collision",
    409,
    "two specs would share one client identity",
    "give each client its own client_id and display name, in exactly one environment file",
)
register("bundle_rejected", 409, "the model bundle cannot be served", "retrain the model or deploy another version")
register("weak_admin_token", 500, "admin token too short", "store a long random token in serving-admin-token")
# data generator
register("datagen", 422, "invalid data generator settings", "correct the named option")
# pipeline runs and app start-up (issue 9: codes that carry their meaning)
register("run_not_found", 404, "no such pipeline run", "pick a run id from `b2brec pipeline status --client C`")
register("invalid_run", 422, "invalid pipeline run or stage", "use a run id and stage name shown by the error")
register("app_start_failed", 500, "the client app did not start", "see the app's log named in the message")
