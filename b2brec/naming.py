"""The one naming helper: every project, bucket, dataset and label derives from here.

Names are a contract with real resources (renaming one replaces it), so they are
pure functions of the ClientSpec, with no random suffixes.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

DATASETS: tuple[str, ...] = ("raw_data", "features", "ml_datasets", "predictions")
"""Warehouse datasets every client project has."""

ETL_STAGING_DATASET = "raw_data_staging"
"""Scratch dataset where dlt stages merges and replaces into ``raw_data`` (dlt's own name for it,
``{dataset}_staging``); Terraform creates it so the ETL account needs no dataset-create right."""

BUCKET_PURPOSES: tuple[str, ...] = ("data", "models", "mlflow", "staging")
"""Object-storage buckets every client project has, as ``{project-id}-{purpose}``."""

LABEL_KEYS: tuple[str, ...] = ("client_id", "template_version", "environment", "cost_center", "created_date")
"""The five labels every labelable resource carries."""

ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")

_PROJECT_ID_MAX = 30  # GCP project ids: 6-30 chars, lowercase letters, digits, hyphens.
_LABEL_VALUE = re.compile(r"[^a-z0-9_-]+")


def sanitize_name(name: str) -> str:
    """Turn a display name into a lowercase, hyphenated slug (``"Müller & Co."`` → ``"muller-co"``)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return re.sub(r"-{2,}", "-", slug)


def project_id(sanitized_name: str, env: str) -> str:
    """``client-{sanitized-name}-{env}``, truncated in the name part to fit GCP's 30 characters."""
    if env not in ENVIRONMENTS:
        raise ValueError(f"environment {env!r} is not one of {ENVIRONMENTS}")
    budget = _PROJECT_ID_MAX - len("client-") - len(env) - 1
    name_part = sanitized_name[:budget].rstrip("-")
    if not name_part:
        raise ValueError(f"name {sanitized_name!r} leaves nothing for the project id")
    return f"client-{name_part}-{env}"


def bucket_name(project: str, purpose: str) -> str:
    """``{project-id}-{purpose}`` (bucket names are global, so the project id prefixes them)."""
    if purpose not in BUCKET_PURPOSES:
        raise ValueError(f"bucket purpose {purpose!r} is not one of {BUCKET_PURPOSES}")
    return f"{project}-{purpose}"


def label_value(value: str) -> str:
    """GCP label values: lowercase letters, digits, ``_`` and ``-``, at most 63 characters."""
    return _LABEL_VALUE.sub("_", value.lower())[:63]


def labels(
    *, client_id: str, template_version: str, environment: str, cost_center: str, created: date
) -> dict[str, str]:
    """The five standard labels, sanitized for GCP."""
    raw = {
        "client_id": client_id,
        "template_version": template_version,
        "environment": environment,
        "cost_center": cost_center,
        "created_date": created.isoformat(),
    }
    return {key: label_value(value) for key, value in raw.items()}
