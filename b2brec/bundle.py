"""The serving bundle: what the trainer exports so the serving API can answer fast.

The trainer writes one bundle per model version under ``models/{version}/serving/`` in the
client's ``models`` bucket (next to ``saved_model/``, ``query_model/`` and
``candidate_model/``); the serving API reads it. Both sides use this module, so the
format has one definition.

Files::

    manifest.json               BundleManifest (version, metrics, data window, features, ...)
    candidate_embeddings.npy    float32 [n_products, dim]; row i is products.parquet row i
    products.parquet            product_id, name, category, subcategory (nullable strings)
    customer_embeddings.npy     float32 [n_customers, dim]; row i is customers.parquet row i
    customers.parquet           customer_id, city (nullable)
    purchases.parquet           customer_id, product_id: purchases in the training window
    popularity.parquet          product_id, city (null = overall), score: for fallbacks
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from b2brec.backends.storage import ObjectStore
from b2brec.errors import B2BRecError
from b2brec.features import CUSTOMER_ATTRIBUTES, PRODUCT_ATTRIBUTES, feature

BUNDLE_DIR = "serving"
FORMAT_VERSION = 1

# the catalog and customer tables, named by the contract's warehouse columns (art_name is "name");
# part of the bundle format: tests/core/test_features.py pins them, so existing bundles keep loading
PRODUCTS_SCHEMA = pa.schema([(feature(f).column, pa.string()) for f in ("product_id", *PRODUCT_ATTRIBUTES)])
CUSTOMERS_SCHEMA = pa.schema([(feature(f).column, pa.string()) for f in ("customer_id", *CUSTOMER_ATTRIBUTES)])
PURCHASES_SCHEMA = pa.schema([("customer_id", pa.string()), ("product_id", pa.string())])
POPULARITY_SCHEMA = pa.schema([("product_id", pa.string()), ("city", pa.string()), ("score", pa.float64())])
NEIGHBOURS_SCHEMA = pa.schema([("product_row", pa.int32()), ("neighbour_row", pa.int32()), ("weight", pa.float32())])
HISTORY_SCHEMA = pa.schema(
    [("customer_id", pa.string()), ("product_id", pa.string()), ("count", pa.float64()), ("last_ts", pa.float64())]
)
RANKING_DIR = "ranking"


class BundleError(B2BRecError):
    code = "invalid_bundle"


class BundleRejected(BundleError):
    """A bundle whose files exist but whose contents cannot be served (NaN embeddings, ids that do
    not line up): refused at write and at deploy time, so it never reaches /health as ready."""

    code = "bundle_rejected"


def _non_finite_rows(matrix: np.ndarray) -> np.ndarray:
    if not np.issubdtype(matrix.dtype, np.floating):
        return np.arange(len(matrix))
    return np.flatnonzero(~np.isfinite(matrix).all(axis=1)) if matrix.ndim == 2 else np.arange(len(matrix))


def _degenerate(matrix: np.ndarray) -> str | None:
    """``"zero"`` / ``"the same vector"`` when the whole matrix carries no ranking (every dot product
    equal: the results would be an arbitrary order labelled as model results), else None."""
    if matrix.ndim != 2 or matrix.size == 0:
        return None
    if not matrix.any():
        return "zero"
    if len(matrix) > 1 and not (matrix != matrix[0]).any():
        return "the same vector"
    return None


def _id_problems(table: pa.Table, column: str, what: str) -> list[str]:
    ids = table.column(column)
    problems = []
    if ids.null_count:
        problems.append(f"{ids.null_count} {what} have no id")
    unique = pc.count_distinct(ids, mode="only_valid").as_py()
    if unique != len(ids) - ids.null_count:
        problems.append(f"{len(ids) - ids.null_count - unique} {what} ids appear more than once")
    return problems


@dataclass(frozen=True, kw_only=True)
class BundleManifest:
    version: str
    trained_at: str
    embedding_dim: int
    features: list[str]
    data_window: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    model_name: str | None = None
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RankingArtifacts:
    """What the re-ranking model needs beyond the embeddings (see ``b2brec.ranking``)."""

    ranker: dict[str, Any]
    popularity: np.ndarray
    neighbours: pa.Table
    history: pa.Table

    def problems(self, n_products: int) -> list[str]:
        found = []
        if self.popularity.shape != (n_products,):
            found.append(f"ranking popularity must be [{n_products}], got {self.popularity.shape}")
        elif not np.isfinite(self.popularity.astype(np.float64)).all():
            found.append("ranking popularity holds NaN or infinite values")
        if not self.neighbours.schema.equals(NEIGHBOURS_SCHEMA):
            found.append(f"neighbours schema {self.neighbours.schema}")
        elif self.neighbours.num_rows:
            for column in ("product_row", "neighbour_row"):
                values = self.neighbours.column(column).to_numpy()
                if values.min() < 0 or values.max() >= n_products:
                    found.append(f"neighbours.{column} must index the {n_products} products")
            if not np.isfinite(self.neighbours.column("weight").to_numpy().astype(np.float64)).all():
                found.append("neighbour weights hold NaN or infinite values")
        if not self.history.schema.equals(HISTORY_SCHEMA):
            found.append(f"history schema {self.history.schema}")
        try:
            from b2brec.ranking import RankerWeights

            RankerWeights.from_dict(self.ranker)
        except (TypeError, ValueError, KeyError) as exc:
            found.append(f"ranker.json: {exc}")
        return found


@dataclass(frozen=True, kw_only=True)
class ServingBundle:
    manifest: BundleManifest
    candidate_embeddings: np.ndarray
    products: pa.Table
    customer_embeddings: np.ndarray
    customers: pa.Table
    purchases: pa.Table
    popularity: pa.Table
    ranking: RankingArtifacts | None = None

    def validate(self) -> None:
        """Shapes and schemas agree; raises BundleError naming what does not."""
        dim = self.manifest.embedding_dim
        checks = [
            (
                self.candidate_embeddings.ndim == 2 and self.candidate_embeddings.shape[1] == dim,
                f"candidate_embeddings must be [n, {dim}], got {self.candidate_embeddings.shape}",
            ),
            (
                self.customer_embeddings.ndim == 2 and self.customer_embeddings.shape[1] == dim,
                f"customer_embeddings must be [n, {dim}], got {self.customer_embeddings.shape}",
            ),
            (
                self.candidate_embeddings.shape[0] == self.products.num_rows,
                f"{self.candidate_embeddings.shape[0]} candidate embeddings for {self.products.num_rows} products",
            ),
            (
                self.customer_embeddings.shape[0] == self.customers.num_rows,
                f"{self.customer_embeddings.shape[0]} customer embeddings for {self.customers.num_rows} customers",
            ),
            (self.products.schema.equals(PRODUCTS_SCHEMA), f"products schema {self.products.schema}"),
            (self.customers.schema.equals(CUSTOMERS_SCHEMA), f"customers schema {self.customers.schema}"),
            (self.purchases.schema.equals(PURCHASES_SCHEMA), f"purchases schema {self.purchases.schema}"),
            (self.popularity.schema.equals(POPULARITY_SCHEMA), f"popularity schema {self.popularity.schema}"),
        ]
        problems = [message for ok, message in checks if not ok]
        if self.ranking is not None:
            problems += self.ranking.problems(self.products.num_rows)
        if problems:
            raise BundleRejected(f"bundle {self.manifest.version} is inconsistent: " + "; ".join(problems))
        self._validate_values()

    def _validate_values(self) -> None:
        """Every embedding finite, every id present and unique, every popularity score finite."""
        problems: list[str] = []
        if self.manifest.embedding_dim < 1 or self.products.num_rows == 0:
            problems.append("it has no products or a zero embedding dimension")
        for matrix, table, column, what in (
            (self.candidate_embeddings, self.products, "product_id", "product"),
            (self.customer_embeddings, self.customers, "customer_id", "customer"),
        ):
            bad = _non_finite_rows(matrix)
            if len(bad):
                first = table.column(column)[int(bad[0])].as_py()
                problems.append(f"{len(bad)} {what} embeddings hold NaN or infinite values (first: {what} {first!r})")
            elif self.ranking is None and (degenerate := _degenerate(matrix)):  # a ranker may rank without them
                problems.append(f"every {what} embedding is {degenerate}, so every score ties")
            problems += _id_problems(table, column, f"{what}s")
        scores = self.popularity.column("score").to_numpy(zero_copy_only=False)
        if len(scores) and not np.isfinite(scores.astype(np.float64)).all():
            problems.append("popularity scores hold NaN or infinite values")
        if problems:
            raise BundleRejected(
                f"model {self.manifest.version} cannot be served: {'; '.join(problems)}. Retrain it (check the "
                "training run for a diverging loss) or deploy another version."
            )


VERSION_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
"""A model version id: letters, digits, ``_``, ``-`` and single dots between them (no ``..``,
no leading dot), so a version always names one folder under the models bucket."""


def check_version(version: str) -> str:
    if not re.fullmatch(VERSION_PATTERN, version):
        raise BundleError(
            f"model version {version!r} is not a version id: use letters, digits, '_', '-' and single dots "
            "(e.g. 20261126-130455-ab12)"
        )
    return version


def _prefix(version: str) -> str:
    return f"{check_version(version)}/{BUNDLE_DIR}"


def _npy_bytes(array: np.ndarray, dtype: Any = np.float32) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=dtype), allow_pickle=False)
    return buffer.getvalue()


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_bundle(store: ObjectStore, bundle: ServingBundle) -> str:
    """Write ``bundle`` under ``{version}/serving/`` of the models store; the manifest is written
    last, so a reader never sees a manifest without its files. Returns the bundle URL."""
    bundle.validate()
    prefix = _prefix(bundle.manifest.version)
    store.write_bytes(f"{prefix}/candidate_embeddings.npy", _npy_bytes(bundle.candidate_embeddings))
    store.write_bytes(f"{prefix}/customer_embeddings.npy", _npy_bytes(bundle.customer_embeddings))
    for name in ("products", "customers", "purchases", "popularity"):
        store.write_bytes(f"{prefix}/{name}.parquet", _parquet_bytes(getattr(bundle, name)))
    if bundle.ranking is not None:
        ranking = f"{prefix}/{RANKING_DIR}"
        store.write_text(f"{ranking}/ranker.json", json.dumps(bundle.ranking.ranker))
        store.write_bytes(f"{ranking}/popularity.npy", _npy_bytes(bundle.ranking.popularity, np.float64))
        store.write_bytes(f"{ranking}/neighbours.parquet", _parquet_bytes(bundle.ranking.neighbours))
        store.write_bytes(f"{ranking}/history.parquet", _parquet_bytes(bundle.ranking.history))
    store.write_text(f"{prefix}/manifest.json", json.dumps(asdict(bundle.manifest), indent=2, sort_keys=True))
    return store.url(prefix)


def read_manifest(store: ObjectStore, version: str) -> BundleManifest:
    key = f"{_prefix(version)}/manifest.json"
    if not store.exists(key):
        raise BundleError(f"model version {version!r} has no serving bundle; list versions with GET /admin/versions")
    try:
        return BundleManifest(**json.loads(store.read_text(key)))
    except (ValueError, TypeError):
        raise BundleRejected(f"model version {version!r} has an unreadable manifest; retrain or re-export it") from None


def read_bundle(store: ObjectStore, version: str) -> ServingBundle:
    manifest = read_manifest(store, version)
    prefix = _prefix(version)

    def npy(name: str) -> np.ndarray:
        return np.load(io.BytesIO(store.read_bytes(f"{prefix}/{name}.npy")), allow_pickle=False)

    def parquet(name: str) -> pa.Table:
        return pq.read_table(io.BytesIO(store.read_bytes(f"{prefix}/{name}.parquet")))

    try:
        bundle = ServingBundle(
            manifest=manifest,
            candidate_embeddings=npy("candidate_embeddings"),
            products=parquet("products"),
            customer_embeddings=npy("customer_embeddings"),
            customers=parquet("customers"),
            purchases=parquet("purchases"),
            popularity=parquet("popularity"),
            ranking=_read_ranking(store, prefix) if manifest.extra.get("scoring") == "ranker" else None,
        )
    except (OSError, ValueError, pa.ArrowException):
        # Missing or corrupt files: said without the storage path (admin answers must not reveal it).
        raise BundleRejected(f"model version {version!r} has missing or unreadable bundle files") from None
    bundle.validate()
    return bundle


def check_bundle(store: ObjectStore, version: str) -> BundleManifest:
    """Does ``version`` load? Reads every file of its bundle and validates shapes, schemas and values
    (``ServingBundle.validate``); raises ``BundleError``/``BundleRejected`` naming what is wrong.

    This is the check every deploy runs before it moves the live pointer (``b2brec.live``), so it
    needs only the core: the client app and a worker run it without the serving extra. Serving's
    own deploy runs it too (it loads through ``read_bundle``), then builds the index and probes it."""
    return read_bundle(store, version).manifest


def _read_ranking(store: ObjectStore, prefix: str) -> RankingArtifacts:
    ranking = f"{prefix}/{RANKING_DIR}"
    missing = [
        name
        for name in ("ranker.json", "popularity.npy", "neighbours.parquet", "history.parquet")
        if not store.exists(f"{ranking}/{name}")
    ]
    if missing:
        raise BundleError(f"bundle at {store.url(prefix)} says scoring=ranker but lacks {', '.join(missing)}")
    return RankingArtifacts(
        ranker=json.loads(store.read_text(f"{ranking}/ranker.json")),
        popularity=np.load(io.BytesIO(store.read_bytes(f"{ranking}/popularity.npy")), allow_pickle=False),
        neighbours=pq.read_table(io.BytesIO(store.read_bytes(f"{ranking}/neighbours.parquet"))),
        history=pq.read_table(io.BytesIO(store.read_bytes(f"{ranking}/history.parquet"))),
    )


def list_versions(store: ObjectStore) -> list[str]:
    """Model versions that have a complete bundle (a manifest), oldest first by name."""
    return sorted({key.split("/")[0] for key in store.list() if key.endswith(f"/{BUNDLE_DIR}/manifest.json")})
