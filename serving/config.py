"""Settings of the serving API, read from ``B2BREC_SERVING_*`` environment variables.

Every supported variable is a field below. Build one at start-up and pass it to ``create_app``;
tests construct one explicitly.
"""

from __future__ import annotations

import re

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_K = 100
"""Largest ``k`` a request may ask for (the evaluation's largest cut-off, Recall@100)."""

MAX_BATCH = 1000
"""Most customers in one ``/recommend-batch`` request."""


class ServingSettings(BaseSettings):
    """Serving settings. Each field maps to ``B2BREC_SERVING_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix="B2BREC_SERVING_", extra="ignore", frozen=True)

    version: str | None = Field(None, description="Model version to load at start-up; unset = newest bundle.")
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
        "separated by commas or newlines (several, so a key can be rotated without downtime). Required on "
        "backend=gcp (the service is public); unset on the local default = no key needed.",
    )
    admin_token: str | None = Field(
        None, description="Bearer token for /admin; required on backend=gcp, optional on the local default."
    )
    log_level: str = Field("INFO", description="Level of the service's JSON logs.")

    def accepted_api_keys(self) -> tuple[bytes, ...]:
        """The configured API keys (empty when none are set)."""
        if self.api_keys is None:
            return ()
        return tuple(key.encode() for key in re.split(r"[,\s]+", self.api_keys.get_secret_value()) if key)

    @model_validator(mode="after")
    def _one_start_version(self) -> ServingSettings:
        if self.version is not None and self.registered is not None:
            raise ValueError(
                "set B2BREC_SERVING_VERSION (a bundle version id) or B2BREC_SERVING_REGISTERED "
                "(a registry version or alias), not both"
            )
        return self
