"""The served model: two-tower retrieval plus own history, EASE neighbours and popularity as
candidate sources, re-ranked by a logistic-regression ranker (``b2brec.ranking``).

Training, given every row before the cutoff ``T``:

1. split off a validation period ``[T - validation_days, T)``;
2. fit the two-tower on the rows before it (the most recent ``two_tower_max_rows``) and the EASE
   neighbours / popularity / histories as of ``T - validation_days``;
3. build candidate features for customers who bought in the validation period, label the
   candidates they bought there, and fit the ranker;
4. rebuild neighbours, popularity and histories from *all* rows before ``T`` (the two-tower
   query embeddings too, from the customer's whole history) — that is what is served.

Nothing after ``T`` is read. Time decay (half-life) weighs popularity and history recency instead
of a hard training window.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from b2brec.ranking import (
    FEATURES,
    CatalogTables,
    CustomerItems,
    RankerWeights,
    candidates,
    catalog_tables,
    features,
    linear_score,
    neighbour_scores,
    top_n,
)
from b2brec.spec import PipelineDefaults
from trainer.baselines import default_lambda, ease_items, ease_weights
from trainer.evaluation import EvalSplit, Scorer
from trainer.interactions import DAY, Interactions, build_interactions
from trainer.lines import Lines, as_lines

log = logging.getLogger(__name__)
DEFAULTS = PipelineDefaults()


@dataclass(frozen=True, kw_only=True)
class HybridConfig:
    half_life_days: float = DEFAULTS.half_life_days
    validation_days: int = 30
    neighbours: int = 100
    ease_lambda: float | None = None
    ease_max_items: int = 6000
    n_retrieval: int = 200
    n_ease: int = 200
    n_popular: int = 100
    ranker_customers: int = 3000
    two_tower: bool = True
    two_tower_max_rows: int = 300_000
    train_config: Any = None  # trainer.fit.TrainConfig; None = its defaults
    ranker: str = "trees"  # trees: gradient-boosted trees; linear: logistic regression
    tree_iterations: int = 100
    tree_leaves: int = 15
    negative_rate: float = 0.3
    callbacks: tuple[Any, ...] = ()  # Keras callbacks for the two-tower fit (e.g. MLflow epoch logging)
    seed: int = 42


@dataclass
class HybridModel:
    """Everything the served model needs as of ``moment``."""

    product_ids: list[str]
    tables: CatalogTables
    ranker: RankerWeights
    interactions: Interactions
    moment: float
    product_embeddings: np.ndarray | None
    customer_embeddings: np.ndarray | None  # rows = interactions.customers
    two_tower: Any = None  # trainer.fit.TrainResult
    config: HybridConfig = field(default_factory=HybridConfig)
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def refreshed(self, frame: pd.DataFrame | Lines, moment: float) -> HybridModel:
        """The same learned parts (two-tower, ranker) with catalog, neighbours, popularity, histories
        and query embeddings rebuilt from every row of ``frame`` before ``moment`` (the train stage
        evaluates a model fitted before the test period, then serves it refreshed up to the cutoff)."""
        frame = as_lines(frame).before(moment)
        catalog = frame.product_ids()
        inter, tables, lam = build_tables(frame, catalog, moment, self.config)
        products = queries = None
        if self.two_tower is not None:
            history = (self.config.train_config or _default_train_config()).history_length
            products, queries = _embeddings(self.two_tower, frame, catalog, inter.customers, moment, history)
        return HybridModel(
            product_ids=catalog,
            tables=tables,
            ranker=self.ranker,
            interactions=inter,
            moment=float(moment),
            product_embeddings=products,
            customer_embeddings=queries,
            two_tower=self.two_tower,
            config=self.config,
            timings=dict(self.timings),
            info={**self.info, "ease_lambda": lam},
        )

    def items(self, customer_row: int) -> CustomerItems:
        return customer_items(self.interactions, customer_row)

    def score(self, customer_row: int) -> tuple[np.ndarray, np.ndarray]:
        """(candidate rows, ranker scores) of one interactions row (-1 = no history)."""
        items = self.items(customer_row) if customer_row >= 0 else CustomerItems.empty()
        query = (
            self.customer_embeddings[customer_row]
            if self.customer_embeddings is not None and customer_row >= 0
            else None
        )
        return score_with(items, self.moment, self.tables, self.ranker, query, self.product_embeddings)

    def scorer(self, split: EvalSplit) -> Scorer:
        """Dense scores over ``split.product_ids`` (which must be this model's catalog order or a
        superset-free reorder of it); products outside the candidates score below every candidate."""
        position = {p: i for i, p in enumerate(split.product_ids)}
        to_split = np.array([position.get(p, -1) for p in self.product_ids], dtype=np.int64)
        rows = self.interactions.rows(split.customers)
        floor = np.full(split.n_products, -1e6)
        mapped = to_split >= 0
        floor[to_split[mapped]] += np.log1p(self.tables.popularity[mapped]) * 1e-3

        def scorer(batch: np.ndarray) -> np.ndarray:
            """The same features and ranker as ``score``, with the retrieval dot products and the
            ranker run once per batch instead of once per customer."""
            out = np.tile(floor, (len(batch), 1))
            found = rows[batch]
            dense = None
            if self.customer_embeddings is not None and self.product_embeddings is not None:
                dense = self.customer_embeddings[np.maximum(found, 0)] @ self.product_embeddings.T
            parts: list[tuple[int, np.ndarray, np.ndarray]] = []
            with threadpool_limits(1, "blas"):  # small products per customer: BLAS threads only fight
                for i, row in enumerate(found.tolist()):
                    items = self.items(row) if row >= 0 else CustomerItems.empty()
                    own = dense[i] if dense is not None and row >= 0 else None
                    cand, matrix = candidate_matrix(
                        items, self.moment, self.tables, self.ranker, None, self.product_embeddings, own
                    )
                    parts.append((i, cand, matrix))
            if parts:
                scores = linear_score(np.concatenate([m for _, _, m in parts]), self.ranker)
                start = 0
                for i, cand, _ in parts:
                    part = scores[start : start + len(cand)]
                    start += len(cand)
                    target = to_split[cand]
                    keep = target >= 0
                    out[i, target[keep]] = part[keep]
            return out

        return scorer


def score_with(
    items: CustomerItems,
    moment: float,
    tables: CatalogTables,
    ranker: RankerWeights,
    query: np.ndarray | None,
    product_embeddings: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    rows, matrix = candidate_matrix(items, moment, tables, ranker, query, product_embeddings)
    return rows, linear_score(matrix, ranker)


def candidate_matrix(
    items: CustomerItems,
    moment: float,
    tables: CatalogTables,
    ranker: RankerWeights,
    query: np.ndarray | None,
    product_embeddings: np.ndarray | None,
    dense: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(candidate rows, feature matrix) of one customer; ``dense``: the retrieval scores of every
    product when the caller computed them for a batch (else from ``query``)."""
    if dense is None and query is not None and product_embeddings is not None:
        dense = product_embeddings @ query
    ranked = top_n(dense, ranker.n_retrieval) if dense is not None else np.zeros(0, np.int64)
    ease = neighbour_scores(items, tables)
    rows = candidates(items, tables, ranker, ranked, ease)
    retrieval = dense[rows] if dense is not None else np.zeros(len(rows))
    return rows, features(items, rows, moment, tables, ranker, (retrieval, ranked), ease)


def customer_items(inter: Interactions, row: int) -> CustomerItems:
    start, stop = inter.counts.indptr[row], inter.counts.indptr[row + 1]
    return CustomerItems(
        rows=inter.counts.indices[start:stop].astype(np.int64),
        counts=inter.counts.data[start:stop].astype(np.float64),
        last_ts=inter.last_ts.data[start:stop].astype(np.float64),
    )


def _codes(attributes: pd.DataFrame, column: str, product_ids: list[str]) -> np.ndarray:
    """Integer codes of each product's latest ``column`` value (-1 = none); ``attributes``:
    ``Lines.product_attributes``."""
    if column not in attributes:
        return np.full(len(product_ids), -1, np.int32)
    latest = attributes[column].reindex(product_ids)
    values = [v if isinstance(v, str) else "" for v in latest]
    lookup: dict[str, int] = {}
    return np.array([lookup.setdefault(v, len(lookup)) if v else -1 for v in values], dtype=np.int32)


def neighbour_matrix(
    inter: Interactions, *, keep: int, lam: float | None, max_items: int
) -> tuple[sp.csr_matrix, float]:
    """EASE weights over the most-bought products, each row cut to its ``keep`` largest weights."""
    n = inter.n_products
    items = ease_items(inter.counts, max_items)
    if len(items) < 2:
        return sp.csr_matrix((n, n)), 0.0
    binary = (inter.counts[:, items] > 0).astype(np.float32).tocsr()
    lam = default_lambda(binary) if lam is None else lam
    weights = ease_weights(binary, lam)
    keep = min(keep, len(items) - 1)
    best = np.argpartition(-weights, keep - 1, axis=1)[:, :keep]
    values = np.take_along_axis(weights, best, 1)
    rows = np.repeat(items, keep)
    cols = items[best.ravel()]
    matrix = sp.csr_matrix((values.ravel(), (rows, cols)), shape=(n, n))
    matrix.eliminate_zeros()
    return matrix, lam


def build_tables(
    frame: pd.DataFrame | Lines, product_ids: list[str], moment: float, config: HybridConfig
) -> tuple[Interactions, CatalogTables, float]:
    lines = as_lines(frame).before(moment)
    inter = build_interactions(lines, product_ids, moment, half_life_days=config.half_life_days)
    neighbours, lam = neighbour_matrix(
        inter, keep=config.neighbours, lam=config.ease_lambda, max_items=config.ease_max_items
    )
    attributes = lines.product_attributes()
    tables = catalog_tables(
        inter.popularity,
        _codes(attributes, "category", product_ids),
        _codes(attributes, "subcategory", product_ids),
        neighbours,
    )
    return inter, tables, lam


def _default_train_config() -> Any:
    from trainer.fit import TrainConfig

    return TrainConfig()


def _two_tower(train: Lines, feature_names: list[str], config: HybridConfig) -> Any:
    """The two-tower fit on the ``two_tower_max_rows`` most recent rows (the one row-level read:
    bounded by the cap, whatever the number of lines)."""
    from trainer.fit import TrainConfig, fit
    from trainer.vocab import build_vocabularies

    rows = train.tail(config.two_tower_max_rows)
    vocab = build_vocabularies(rows, [f for f in feature_names if f in rows.columns])
    return fit(rows, vocab, config.train_config or TrainConfig(), callbacks=list(config.callbacks))


def _embeddings(
    result: Any, frame: Lines, product_ids: list[str], customers: list[str], moment: float, history: int
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate embeddings of every catalog product (products the two-tower never saw go through
    its out-of-vocabulary id with their own name/category features) and query embeddings at ``moment``."""
    from trainer.examples import product_table
    from trainer.fit import _candidate_inputs, _predict, embed_customers

    before = frame.before(moment)
    table = product_table(before, product_ids)
    products = _predict(result.candidate_model, _candidate_inputs(table, np.arange(len(product_ids))))
    queries = embed_customers(result, before, customers, moment, history)
    return products, queries


def fit_hybrid(
    train: pd.DataFrame | Lines, cutoff: float, feature_names: list[str], config: HybridConfig | None = None
) -> HybridModel:
    """Fit on ``train`` (rows before ``cutoff``, epoch seconds): a frame or ``Lines`` (spooled files,
    read through aggregates)."""
    config = config or HybridConfig()
    train = as_lines(train).before(cutoff)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    t_val = cutoff - config.validation_days * DAY
    pre = train.before(t_val)
    if pre.n_customers() < 2:
        raise ValueError(
            f"no rows before the validation period ({config.validation_days} days before the cutoff): "
            "use a shorter validation period or more history"
        )
    result = _two_tower(pre, feature_names, config) if config.two_tower else None
    history = (config.train_config or _default_train_config()).history_length
    timings["two_tower"] = time.perf_counter() - started

    # ranker training data at t_val
    mark = time.perf_counter()
    catalog_val = pre.product_ids()
    inter_val, tables_val, _ = build_tables(pre, catalog_val, t_val, config)
    bought_val = train.since(t_val).products_by_customer()
    eligible = [c for c in sorted(bought_val) if c in inter_val.customer_pos]
    rng = np.random.default_rng(config.seed)
    if len(eligible) > config.ranker_customers:
        eligible = sorted(rng.choice(eligible, size=config.ranker_customers, replace=False).tolist())
    draft = RankerWeights(
        features=FEATURES,
        mean=(0.0,) * len(FEATURES),
        scale=(1.0,) * len(FEATURES),
        weights=(0.0,) * len(FEATURES),
        bias=0.0,
        half_life_days=config.half_life_days,
        n_retrieval=config.n_retrieval,
        n_ease=config.n_ease,
        n_popular=config.n_popular,
    )
    products_val = queries_val = None
    if result is not None:
        products_val, queries_val = _embeddings(result, pre, catalog_val, eligible, t_val, history)
    position = {p: i for i, p in enumerate(catalog_val)}
    matrices, labels = [], []
    with threadpool_limits(1, "blas"):
        for i, customer in enumerate(eligible):
            items = customer_items(inter_val, inter_val.customer_pos[customer])
            query = queries_val[i] if queries_val is not None else None
            rows, matrix = candidate_matrix(items, t_val, tables_val, draft, query, products_val)
            wanted = {position[p] for p in bought_val[customer] if p in position}
            label = np.isin(rows, list(wanted))
            # every positive, a random share of the negatives (ranking is unchanged by the rate)
            keep = label | (rng.random(len(rows)) < config.negative_rate)
            matrices.append(matrix[keep])
            labels.append(label[keep])
    X = np.concatenate(matrices)
    y = np.concatenate(labels)
    ranker = _fit_trees(X, y, draft, config) if config.ranker == "trees" else _fit_ranker(X, y, draft, config.seed)
    timings["ranker"] = time.perf_counter() - mark

    # the served state at the cutoff
    mark = time.perf_counter()
    model = HybridModel(
        product_ids=[],
        tables=tables_val,
        ranker=ranker,
        interactions=inter_val,
        moment=t_val,
        product_embeddings=None,
        customer_embeddings=None,
        two_tower=result,
        config=config,
    ).refreshed(train, cutoff)
    timings["serve_state"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    model.timings = timings
    model.info |= {
        "ranker_rows": int(len(y)),
        "ranker_positives": int(y.sum()),
        "ranker_customers": len(eligible),
        "candidate_recall_validation": float(y.sum()) / max(1, sum(len(bought_val[c]) for c in eligible)),
    }
    log.info("hybrid model: %s, %s", model.info, timings)
    return model


def _fit_ranker(X: np.ndarray, y: np.ndarray, draft: RankerWeights, seed: int) -> RankerWeights:
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    if y.all() or not y.any():
        weights, bias = np.zeros(X.shape[1]), 0.0
    else:
        model = LogisticRegression(C=1.0, max_iter=500, random_state=seed)
        model.fit((X - mean) / scale, y)
        weights, bias = model.coef_[0], float(model.intercept_[0])
    return replace(
        draft,
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        weights=tuple(float(v) for v in weights),
        bias=bias,
    )


def _fit_trees(X: np.ndarray, y: np.ndarray, draft: RankerWeights, config: HybridConfig) -> RankerWeights:
    """Gradient-boosted trees (scikit-learn's histogram GBDT, log loss), flattened for ``b2brec.ranking``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    if y.all() or not y.any():
        return _fit_ranker(X, y, draft, config.seed)
    model = HistGradientBoostingClassifier(
        max_iter=config.tree_iterations,
        max_leaf_nodes=config.tree_leaves,
        learning_rate=0.1,
        min_samples_leaf=50,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=config.seed,
    )
    # one OpenMP thread: on a shared 2-core machine two spinning threads took 96 s where one took 1.6 s
    with threadpool_limits(1, "openmp"):
        model.fit(X, y)
    arrays: dict[str, list[float]] = {k: [] for k in ("feature", "threshold", "left", "right", "value", "is_leaf")}
    roots: list[float] = []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        offset = len(arrays["value"])
        roots.append(offset)
        arrays["feature"] += nodes["feature_idx"].astype(int).tolist()
        arrays["threshold"] += nodes["num_threshold"].astype(float).tolist()
        arrays["left"] += (nodes["left"].astype(int) + offset).tolist()
        arrays["right"] += (nodes["right"].astype(int) + offset).tolist()
        arrays["value"] += nodes["value"].astype(float).tolist()
        arrays["is_leaf"] += nodes["is_leaf"].astype(int).tolist()
    arrays["roots"] = roots
    baseline = float(np.ravel(model._baseline_prediction)[0])
    zeros = tuple(0.0 for _ in draft.features)
    return replace(
        draft, mean=zeros, scale=tuple(1.0 for _ in draft.features), weights=zeros, bias=baseline, trees=arrays
    )
