"""Request and response bodies. Every response is ``{"status", "message", "data"}``."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from b2brec.bundle import VERSION_PATTERN
from serving.config import MAX_BATCH, MAX_BATCH_K, MAX_K
from serving.model.state import FilterSpec

T = TypeVar("T")

# Caps on every string and list a caller sends (issue 10): the body cap bounds a request, these
# bound each field, so no request can make the prediction log or the filters large.
MAX_ID_CHARS = 256
MAX_NAME_CHARS = 200
MAX_FILTER_VALUES = 200

CustomerIdStr = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
CityStr = Annotated[str, StringConstraints(max_length=MAX_ID_CHARS)]
NameStr = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)]
CustomerId = Field(min_length=1, max_length=MAX_ID_CHARS, description="The client's own customer id.")
NameList: list[NameStr] = Field(
    default_factory=list,
    max_length=MAX_FILTER_VALUES,
    description=f"Up to {MAX_FILTER_VALUES} names of 1 to {MAX_NAME_CHARS} characters.",
)


def _integral(value: object) -> object:
    """JSON Schema's ``integer`` admits ``13.0``; accept it as 13 (and still refuse 13.5, "13", true)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Integer = Annotated[int, BeforeValidator(_integral)]


class Envelope(BaseModel, Generic[T]):
    status: Literal["success", "error"]
    message: str
    data: T | None = None


class ErrorEnvelope(BaseModel):
    status: Literal["error"]
    message: str
    data: dict[str, Any] | None = None


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    include_categories: list[NameStr] = NameList
    exclude_categories: list[NameStr] = NameList
    include_subcategories: list[NameStr] = NameList
    exclude_subcategories: list[NameStr] = NameList
    exclude_purchased: bool = Field(
        False, description="Leave out every product the customer ever bought (their whole history in the warehouse)."
    )

    def spec(self) -> FilterSpec:
        return FilterSpec(
            include_categories=tuple(sorted(set(self.include_categories))),
            exclude_categories=tuple(sorted(set(self.exclude_categories))),
            include_subcategories=tuple(sorted(set(self.include_subcategories))),
            exclude_subcategories=tuple(sorted(set(self.exclude_subcategories))),
            exclude_purchased=self.exclude_purchased,
        )


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customer_id: str = CustomerId
    k: Integer = Field(10, ge=1, le=MAX_K, description=f"How many products, 1 to {MAX_K}.")
    city: str | None = Field(
        None, max_length=MAX_ID_CHARS, description="Used for the fallback when the model lacks the customer."
    )
    filters: Filters = Field(default_factory=Filters)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customer_ids: list[CustomerIdStr] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} distinct customer ids.",
        json_schema_extra={"uniqueItems": True},
    )
    k: Integer = Field(
        10,
        ge=1,
        le=MAX_BATCH_K,
        description=f"How many products per customer, 1 to {MAX_BATCH_K} (a batch answers at most "
        f"{MAX_BATCH * MAX_BATCH_K:,} items; ask /recommend for up to {MAX_K} for one customer).",
    )
    cities: dict[CustomerIdStr, CityStr] = Field(
        default_factory=dict,
        max_length=MAX_BATCH,
        description="Optional customer id -> city, for fallbacks of customers the model lacks.",
    )
    filters: Filters = Field(default_factory=Filters)

    @model_validator(mode="after")
    def _distinct(self) -> BatchRequest:
        if len(set(self.customer_ids)) != len(self.customer_ids):
            dupes = sorted(c for c, n in Counter(self.customer_ids).items() if n > 1)
            raise ValueError(f"customer_ids contains duplicates {dupes[:5]}; send each customer once")
        return self


class Item(BaseModel):
    rank: int
    product_id: str
    score: float
    name: str | None
    category: str | None
    subcategory: str | None
    padding: bool = Field(False, description="A popular product added so the answer has k items.")


class Recommendation(BaseModel):
    recommendation_id: str
    customer_id: str
    fallback: bool
    fallback_reason: str | None
    source: Literal["model", "history", "fallback"] = Field(
        "model",
        description="model: the customer bought before the model's cutoff (their query features come from their "
        "whole history, however old); history: first bought after the cutoff, scored from their purchases in the "
        "warehouse; fallback: popular products.",
    )
    notes: list[str] = Field(default_factory=list, description="E.g. a mangled customer id read as another.")
    items: list[Item]


class RecommendData(Recommendation):
    model_version: str


class BatchData(BaseModel):
    model_version: str
    request_id: str
    compute_ms: float = Field(description="Server time spent scoring (without HTTP and JSON).")
    results: list[Recommendation]


class IndexInfo(BaseModel):
    kind: str = Field(description="The approximate index when one is built, else exact.")
    single_requests: str = Field(description="Index answering single requests.")
    batches: str = Field(description="Index answering batches.")
    products: int
    recall_at_100: float | None = Field(description="Measured vs exact at load time; 1.0 for the exact index.")
    nprobe: int | None = None
    nlist: int | None = None


class ModelInfo(BaseModel):
    model_version: str
    previous_version: str | None
    trained_at: str
    metrics: dict[str, float]
    data_window: dict[str, str]
    features: list[str]
    embedding_dim: int
    customers: int
    index: IndexInfo
    loaded_at: float
    load_seconds: float


class DeployRequest(BaseModel):
    # The schema states what the validator below enforces: not both targets at once.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "not": {
                "required": ["version", "registered"],
                "properties": {"version": {"type": "string"}, "registered": {"type": "string"}},
            }
        },
    )

    version: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=VERSION_PATTERN,
        description="A version id (letters, digits, '_', '-', single dots); omit for the newest version.",
    )
    registered: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        pattern=r"^([1-9][0-9]{0,8}|[A-Za-z_][A-Za-z0-9_-]*)$",
        description='Instead of `version`: an MLflow registry version number ("3", from 1) or alias '
        '("champion", starting with a letter) of the served model; the server loads the bundle that registry '
        "version names.",
    )

    actor: str = Field(
        "admin-api", min_length=1, max_length=200, description="Who deploys (kept in the deployment history)."
    )
    reason: str = Field("", max_length=2000, description="Why (kept in the deployment history).")

    @model_validator(mode="after")
    def _one_target(self) -> DeployRequest:
        if self.version is not None and self.registered is not None:
            raise ValueError("give `version` or `registered`, not both")
        return self


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    actor: str = Field(
        "admin-api", min_length=1, max_length=200, description="Who rolls back (kept in the deployment history)."
    )
    reason: str = Field("", max_length=2000, description="Why (kept in the deployment history).")


class DeploymentData(BaseModel):
    version: str
    previous: str | None
    actor: str
    reason: str
    at: str
    action: str


class HealthData(BaseModel):
    ready: bool
    model_version: str | None = None


class VersionsData(BaseModel):
    current: str | None
    previous: str | None
    available: list[str]
    live: str | None = None
    """The client's live version (all instances converge on it)."""
    history: list[DeploymentData] = []
    """The last 20 deployments and rollbacks, oldest first."""
