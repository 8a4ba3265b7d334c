"""Settings of the serving API, read from ``B2BREC_SERVING_*`` environment variables.

Every supported variable is a field below. Build one at start-up and pass it to ``create_app``;
tests construct one explicitly.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from b2brec.security.api_keys import split_keys

MAX_K = 500
"""Largest ``k`` a request may ask for (the evaluation's largest cut-off, Recall@100)."""

MAX_BATCH = 1000
"""Most customers in one ``/recommend-batch`` request."""

MAX_BATCH_K = 100
"""Largest ``k`` per customer in ``/recommend-batch``: bounds a response to ``MAX_BATCH * MAX_BATCH_K``
(100,000) items, about 13 MB of JSON (1,000 x 500 made 66 MB and +256 MB of memory). A bound in the
schema itself, so the OpenAPI document states it (schemathesis checks the server agrees)."""

MIN_ADMIN_TOKEN_LENGTH = 16
"""Shortest admin token accepted: shorter (or empty) ones refuse to start instead of opening /admin."""

MAX_BODY_BYTES = 2 << 20
"""Default body cap. A full batch (1,000 customer ids and cities of 256 ASCII characters, full filter
lists) is about 1 MiB; requests larger than the cap get 413 before they are read."""


class ServingSettings(BaseSettings):
    """Serving settings. Each field maps to ``B2BREC_SERVING_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix="B2BREC_SERVING_", extra="ignore", frozen=True)

    version: str | None = Field(
        None,
        description="Model version to load at start-up when the client has no live version yet (live.json in "
        "the models bucket, set by /admin/deploy); unset = newest bundle.",
    )
    registered: str | None = Field(
        None,
        description="Instead of `version`: an MLflow registry version number or alias (e.g. champion) of "
        "`registered_model` to load at start-up.",
    )
    registered_model: str = Field("two-tower", description="Registered MLflow model that `registered` refers to.")
    mlflow_tracking_uri: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "B2BREC_SERVING_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI", "mlflow_tracking_uri"
        ),
        description="MLflow tracking server holding the registry (also read from MLFLOW_TRACKING_URI).",
    )
    approx_threshold: int = Field(
        50_000,
        ge=1,
        description="Single requests over catalogs of at least this many products use the approximate index "
        "(one query reads the whole candidate matrix, so exact scoring is memory-bound early).",
    )
    batch_approx_threshold: int = Field(
        250_000,
        ge=1,
        description="Batches over catalogs of at least this many products use the approximate index "
        "(a batch shares each read of the matrix, so exact BLAS scoring pays off much longer).",
    )
    approx_target_recall: float = Field(
        0.95, gt=0, le=1, description="Recall@100 vs exact the approximate index is tuned to reach at load time."
    )
    recall_sample: int = Field(200, ge=10, le=5000, description="Queries used to measure the approximate recall.")
    compute_threads: int = Field(2, ge=1, le=64, description="Threads scoring a batch (BLAS runs 1 thread each).")
    prediction_log: bool = Field(True, description="Log every recommendation to predictions.recommendation_history.")
    history_refresh_s: float = Field(
        300.0,
        ge=0,
        description="Reload the customers' purchase history from the warehouse this often (0: at start only).",
    )
    flush_interval_s: float = Field(2.0, gt=0, description="Longest a logged prediction waits before it is written.")
    flush_rows: int = Field(5000, ge=1, description="Write as soon as this many prediction rows are waiting.")
    max_pending_rows: int = Field(
        500_000,
        ge=1,
        description="Rows kept while the warehouse is unreachable; beyond, dropped and counted.",
    )
    api_keys: SecretStr | None = Field(
        None,
        description="Keys callers send as header X-API-Key on /recommend, /recommend-batch and /model-info, "
        "separated by commas or newlines. Unset = read them from the client's secrets backend "
        "(`api_keys_secret`), re-read every `credentials_refresh_s`. With no keys anywhere: open on the "
        "local default while the secret has never existed, refused on backend=gcp (the service is public) "
        "and refused anywhere once the secret exists (the last key revoked leaves it empty).",
    )
    api_keys_secret: str = Field("serving-api-keys", description="Secret holding the API keys (client app manages it).")
    admin_token_secret: str = Field("serving-admin-token", description="Secret holding the /admin bearer token.")
    credentials_refresh_s: float = Field(
        60.0, gt=0, description="How often the keys and the admin token are re-read from the secrets backend."
    )
    admin_token: SecretStr | None = Field(  # checked by _credentials: never empty or short
        None,
        description="Bearer token for /admin. Unset = read from the secrets backend (`admin_token_secret`); "
        "a missing, blank or short one disables /admin (403) on every backend; blank or short at start "
        "refuses to start. A local project gets a random one when it is created.",
    )
    live_refresh_s: float = Field(
        3.0,
        ge=0,
        description="How often the client's live-version pointer (models bucket, live.json) is re-read; the "
        "instance hot-swaps when it moved, so all instances converge within this interval. 0 = read at start only.",
    )
    log_level: str = Field("INFO", description="Level of the service's JSON logs.")
    host: str = Field(
        "0.0.0.0",
        description="Interface `python -m serving` listens on when run from the client's spec (Cloud Run); "
        "the port is then Cloud Run's $PORT.",
    )
    max_body_bytes: int = Field(
        MAX_BODY_BYTES,
        ge=1024,
        le=64 << 20,
        description="Largest request body accepted; larger ones get 413 before they are read in full.",
    )

    def accepted_api_keys(self) -> tuple[bytes, ...]:
        """The API keys given in the settings (empty when none are set)."""
        return () if self.api_keys is None else split_keys(self.api_keys.get_secret_value())

    @model_validator(mode="after")
    def _credentials(self) -> ServingSettings:
        # An empty or short token used to open /admin (compare_digest("", "") is True): refuse to start.
        token = self.admin_token.get_secret_value().strip() if self.admin_token is not None else None
        if token is not None and len(token) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(
                f"B2BREC_SERVING_ADMIN_TOKEN is empty or shorter than {MIN_ADMIN_TOKEN_LENGTH} characters; "
                "set a long random token (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) "
                "or unset it to read the serving-admin-token secret"
            )
        if self.api_keys is not None and not self.accepted_api_keys():
            raise ValueError(
                "B2BREC_SERVING_API_KEYS is set but holds no key; give at least one key, or unset it to read the "
                "serving-api-keys secret"
            )
        return self

    @model_validator(mode="after")
    def _one_start_version(self) -> ServingSettings:
        if self.version is not None and self.registered is not None:
            raise ValueError(
                "set B2BREC_SERVING_VERSION (a bundle version id) or B2BREC_SERVING_REGISTERED "
                "(a registry version or alias), not both"
            )
        return self
