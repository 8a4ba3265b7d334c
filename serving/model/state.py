"""ModelState: one loaded model version, immutable once built.

Everything a request needs is precomputed here at load time: the candidate index, the known
customers' embeddings and row numbers, their purchases as product rows, category codes, and
popularity rankings per city. The registry swaps whole states, so a request that took a state
finishes on that version even while another one is deployed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from b2brec.bundle import BundleManifest, ServingBundle
from serving.model.index import ApproximateIndex, ExactIndex
from serving.model.ranking import RankingState, build_ranking_state

_MASK_CACHE_SIZE = 64


def _strings(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(table.column(column).to_pylist(), dtype=object)


def _codes(values: pa.ChunkedArray) -> tuple[np.ndarray, dict[str, int]]:
    """Dictionary-encode a string column: int32 codes (-1 = null) and value -> code."""
    encoded = pc.dictionary_encode(values).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    codes = np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), -1, codes).astype(np.int32)
    return codes, {value: i for i, value in enumerate(encoded.dictionary.to_pylist())}


@dataclass(frozen=True, kw_only=True)
class FilterSpec:
    """Filters a request may set; empty tuples mean "no filter"."""

    include_categories: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()
    include_subcategories: tuple[str, ...] = ()
    exclude_subcategories: tuple[str, ...] = ()
    exclude_purchased: bool = False

    @property
    def shared(self) -> tuple[tuple[str, ...], ...]:
        return (
            self.include_categories,
            self.exclude_categories,
            self.include_subcategories,
            self.exclude_subcategories,
        )


@dataclass(frozen=True, kw_only=True)
class ModelState:
    manifest: BundleManifest
    product_ids: np.ndarray  # object [n]
    product_names: list[str | None]
    product_categories: list[str | None]
    product_subcategories: list[str | None]
    category_codes: np.ndarray
    category_lookup: dict[str, int]
    subcategory_codes: np.ndarray
    subcategory_lookup: dict[str, int]
    customer_rows: dict[str, int]
    customer_cities: list[str | None]
    customer_embeddings: np.ndarray
    purchases: list[np.ndarray]  # product rows per customer row
    popular: dict[str | None, np.ndarray]  # city (None = overall) -> product rows, most popular first
    popular_scores: dict[str | None, np.ndarray]
    exact: ExactIndex
    approximate: ApproximateIndex | None
    loaded_at: float
    load_seconds: float
    ranking: RankingState | None = None
    _masks: OrderedDict = field(default_factory=OrderedDict, repr=False, compare=False)
    _mask_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def history_until(self) -> float | None:
        """Epoch seconds the warehouse history is read up to: the cutoff of a model trained with an
        explicit one (a backtest), else None (up to now; see ``serving/history.py``)."""
        until = self.manifest.extra.get("history_until")
        return datetime.fromisoformat(until).timestamp() if isinstance(until, str) else None

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    single_uses_approximate: bool = False
    batch_uses_approximate: bool = False

    def index_for(self, queries: int) -> ExactIndex | ApproximateIndex:
        """The approximate index where the thresholds say so for a single query or a batch."""
        use = self.single_uses_approximate if queries == 1 else self.batch_uses_approximate
        return self.approximate if use and self.approximate is not None else self.exact

    @property
    def index(self) -> ExactIndex | ApproximateIndex:
        """The index single requests use."""
        return self.index_for(1)

    def blocked_mask(self, spec: FilterSpec) -> np.ndarray | None:
        """bool [n]: True where the shared filters forbid a product; None when nothing is filtered.
        Cached per filter combination (requests repeat the same few)."""
        key = spec.shared
        if not any(key):
            return None
        with self._mask_lock:
            if key in self._masks:
                self._masks.move_to_end(key)
                return self._masks[key]
        blocked = np.zeros(self.n_products, dtype=bool)
        for values, codes, lookup, include in (
            (spec.include_categories, self.category_codes, self.category_lookup, True),
            (spec.exclude_categories, self.category_codes, self.category_lookup, False),
            (spec.include_subcategories, self.subcategory_codes, self.subcategory_lookup, True),
            (spec.exclude_subcategories, self.subcategory_codes, self.subcategory_lookup, False),
        ):
            if not values:
                continue
            wanted = np.isin(codes, [lookup[v] for v in values if v in lookup])
            blocked |= ~wanted if include else wanted
        with self._mask_lock:
            self._masks[key] = blocked
            while len(self._masks) > _MASK_CACHE_SIZE:
                self._masks.popitem(last=False)
        return blocked


def _purchases_by_customer(bundle: ServingBundle, customer_rows: dict[str, int], n_customers: int) -> list[np.ndarray]:
    product_row = pc.index_in(bundle.purchases.column("product_id"), value_set=bundle.products.column("product_id"))
    customer_row = pc.index_in(bundle.purchases.column("customer_id"), value_set=bundle.customers.column("customer_id"))
    valid = pc.and_(pc.is_valid(product_row), pc.is_valid(customer_row))
    products = pc.filter(product_row, valid).to_numpy(zero_copy_only=False).astype(np.int64)
    customers = pc.filter(customer_row, valid).to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(customers, kind="stable")
    products, customers = products[order], customers[order]
    bounds = np.searchsorted(customers, np.arange(n_customers + 1))
    return [np.unique(products[bounds[i] : bounds[i + 1]]) for i in range(n_customers)]


def _popularity(bundle: ServingBundle) -> tuple[dict[str | None, np.ndarray], dict[str | None, np.ndarray]]:
    """Product rows per city (None = overall), most popular first, with their scores."""
    table = bundle.popularity
    rows = pc.index_in(table.column("product_id"), value_set=bundle.products.column("product_id"))
    table = table.append_column("row", rows).filter(pc.is_valid(rows))
    product_rows = table.column("row").to_numpy(zero_copy_only=False).astype(np.int64)
    scores = table.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    codes, lookup = _codes(table.column("city"))
    order = np.lexsort((-scores, codes))  # by city code, then score descending
    names: dict[int, str | None] = {code: city for city, code in lookup.items()} | {-1: None}
    ranked: dict[str | None, np.ndarray] = {}
    ranked_scores: dict[str | None, np.ndarray] = {}
    for code in np.unique(codes).tolist():
        selected = order[codes[order] == code]
        ranked[names[code]], ranked_scores[names[code]] = product_rows[selected], scores[selected]
    return ranked, ranked_scores


def build_state(
    bundle: ServingBundle,
    *,
    approx_threshold: int,
    batch_approx_threshold: int | None = None,
    target_recall: float = 0.95,
    recall_sample: int = 200,
    threads: int = 2,
) -> ModelState:
    """Precompute everything for ``bundle``; builds (and tunes) the approximate index when the
    catalog has at least ``approx_threshold`` products (single requests) or
    ``batch_approx_threshold`` (batches; default: the same)."""
    batch_approx_threshold = approx_threshold if batch_approx_threshold is None else batch_approx_threshold
    started = time.perf_counter()
    bundle.validate()
    products = bundle.products
    customers = bundle.customers
    customer_ids = customers.column("customer_id").to_pylist()
    customer_rows = {cid: i for i, cid in enumerate(customer_ids)}
    category_codes, category_lookup = _codes(products.column("category"))
    subcategory_codes, subcategory_lookup = _codes(products.column("subcategory"))
    candidates = np.ascontiguousarray(bundle.candidate_embeddings, dtype=np.float32)
    exact = ExactIndex(candidates, threads=threads)
    approximate = None
    if len(candidates) >= min(approx_threshold, batch_approx_threshold):
        approximate = ApproximateIndex(candidates, threads=threads)
        rng = np.random.default_rng(0)
        pool = bundle.customer_embeddings if len(bundle.customer_embeddings) else candidates
        sample = pool[rng.choice(len(pool), size=min(recall_sample, len(pool)), replace=False)]
        approximate.tune(sample, exact, target_recall)
    popular, popular_scores = _popularity(bundle)
    return ModelState(
        manifest=bundle.manifest,
        product_ids=_strings(products, "product_id"),
        product_names=products.column("name").to_pylist(),
        product_categories=products.column("category").to_pylist(),
        product_subcategories=products.column("subcategory").to_pylist(),
        category_codes=category_codes,
        category_lookup=category_lookup,
        subcategory_codes=subcategory_codes,
        subcategory_lookup=subcategory_lookup,
        customer_rows=customer_rows,
        customer_cities=customers.column("city").to_pylist(),
        customer_embeddings=np.ascontiguousarray(bundle.customer_embeddings, dtype=np.float32),
        purchases=_purchases_by_customer(bundle, customer_rows, len(customer_ids)),
        popular=popular,
        popular_scores=popular_scores,
        exact=exact,
        approximate=approximate,
        single_uses_approximate=len(candidates) >= approx_threshold,
        batch_uses_approximate=len(candidates) >= batch_approx_threshold,
        ranking=build_ranking_state(bundle),
        loaded_at=time.time(),
        load_seconds=time.perf_counter() - started,
    )
