"""The served model's scoring: candidates from several sources, re-ranked by a learned linear ranker.

One definition for the trainer (evaluation, ranker training) and serving, so both compute the
same score. numpy/scipy only. For one customer at a moment:

1. **candidates**: the customer's own past products, the ``n_ease`` best of the item-item
   neighbour scores of their history (EASE weights kept as top-N neighbours per product), the
   ``n_retrieval`` best of the two-tower retrieval, and the ``n_popular`` most popular products;
2. **features** per candidate (``FEATURES``): two-tower score and rank, neighbour score and rank,
   bought before, log count, recency (time-decayed, half-life in the ranker), log days since,
   share of the customer's lines, decayed popularity and its rank, category and subcategory
   affinity, and "bought before x breadth of the customer's history";
3. **score** = a sum of regression trees over the features (gradient-boosted, trained on a
   validation period before the cutoff: did the customer buy the candidate in it?) plus a linear
   part ``(features - mean) / scale . weights + bias`` (zero weights when trees are used; the
   linear-only ranker is the simpler option).

A product outside the candidates is never recommended by the model; padding beyond them is the
caller's (serving pads with popular products, marked).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

DAY = 86400.0
FEATURES: tuple[str, ...] = (
    "retrieval_score",
    "retrieval_rank",
    "neighbour_score",
    "neighbour_rank",
    "bought",
    "log_count",
    "recency",
    "log_days_since",
    "share",
    "popularity",
    "popularity_rank",
    "category_share",
    "subcategory_share",
    "bought_x_breadth",
)


@dataclass(frozen=True, kw_only=True)
class RankerWeights:
    """The learned ranker and the candidate sizes it was trained with (JSON-able)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    half_life_days: float
    n_retrieval: int = 200
    n_ease: int = 200
    n_popular: int = 100
    trees: dict[str, list[float]] | None = None
    """Flattened regression trees: ``feature``, ``threshold``, ``left``, ``right`` (global node
    indexes), ``value``, ``is_leaf`` per node and ``roots``; go left when ``x[feature] <= threshold``."""

    def __post_init__(self) -> None:
        sizes = {len(self.features), len(self.mean), len(self.scale), len(self.weights)}
        if len(sizes) != 1 or tuple(self.features) != FEATURES[: len(self.features)]:
            raise ValueError(f"ranker weights do not match the features {FEATURES}: {self.features}")
        numbers = [*self.mean, *self.scale, *self.weights, self.bias, self.half_life_days]
        if not np.isfinite(numbers).all() or self.half_life_days <= 0 or min(self.scale, default=1.0) <= 0:
            raise ValueError("ranker weights hold NaN, infinite or non-positive scale/half-life values")
        if self.trees is not None:
            nodes = {len(self.trees[k]) for k in ("feature", "threshold", "left", "right", "value", "is_leaf")}
            if len(nodes) != 1 or max(self.trees["feature"], default=0) >= len(FEATURES):
                raise ValueError("ranker trees are inconsistent: node arrays differ in length or name unknown features")
            total = len(self.trees["value"])
            links = [*self.trees["left"], *self.trees["right"], *self.trees["roots"]]
            if not np.isfinite(self.trees["value"]).all() or (links and (min(links) < 0 or max(links) >= total)):
                raise ValueError("ranker trees hold non-finite leaf values or links outside the tree")
            internal = np.flatnonzero(~np.asarray(self.trees["is_leaf"], dtype=bool))
            for side in ("left", "right"):
                if np.any(np.asarray(self.trees[side], dtype=np.int64)[internal] <= internal):
                    # scikit-learn numbers children after their parent; a link backwards could loop forever
                    raise ValueError("ranker trees link a node to an earlier one (a cycle); retrain the model")

    def to_dict(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RankerWeights:
        values = dict(data)
        for key in ("features", "mean", "scale", "weights"):
            values[key] = tuple(values[key])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CompiledTrees:
    """The trees as numpy arrays (built once per ranker, not per request). Leaves loop to
    themselves (threshold +inf), so every row can take ``depth`` steps without a mask."""

    feature: np.ndarray  # int32 [nodes]
    threshold: np.ndarray  # float64 [nodes]
    children: np.ndarray  # int32 [2, nodes]: row 0 = right (x > threshold), row 1 = left
    value: np.ndarray  # float64 [nodes]
    roots: np.ndarray  # int32 [trees]
    depth: int

    @classmethod
    def of(cls, trees: dict[str, list[float]]) -> CompiledTrees:
        leaf = np.asarray(trees["is_leaf"], dtype=bool)
        own = np.arange(len(leaf), dtype=np.int32)
        left = np.where(leaf, own, np.asarray(trees["left"], dtype=np.int32))
        right = np.where(leaf, own, np.asarray(trees["right"], dtype=np.int32))
        roots = np.asarray(trees["roots"], dtype=np.int32)
        depth, frontier = 0, roots[~leaf[roots]] if len(roots) else roots
        while len(frontier):
            depth += 1
            nxt = np.concatenate([left[frontier], right[frontier]])
            frontier = nxt[~leaf[nxt]]
        return cls(
            feature=np.where(leaf, 0, np.asarray(trees["feature"], dtype=np.int32)).astype(np.int32),
            threshold=np.where(leaf, np.inf, np.asarray(trees["threshold"], dtype=np.float64)),
            children=np.stack([right, left]).astype(np.int32),
            value=np.asarray(trees["value"], dtype=np.float64),
            roots=roots,
            depth=depth,
        )


_COMPILED: dict[int, tuple[dict[str, list[float]], CompiledTrees, object | None]] = {}


def _compiled_entry(trees: dict[str, list[float]]) -> tuple[dict[str, list[float]], CompiledTrees, object | None]:
    found = _COMPILED.get(id(trees))
    if found is None or found[0] is not trees:
        compiled = CompiledTrees.of(trees)
        found = (trees, compiled, _forest_predictor(trees, compiled))
        if len(_COMPILED) > 16:
            _COMPILED.clear()
        _COMPILED[id(trees)] = found
    return found


def _compiled(trees: dict[str, list[float]]) -> CompiledTrees:
    return _compiled_entry(trees)[1]


def _forest_predictor(trees: dict[str, list[float]], t: CompiledTrees) -> object | None:
    """The whole forest as ONE tree for scikit-learn's compiled walker: router nodes on an extra
    "tree id" column lead each (row, tree id) copy of a row to that tree's root, so one C call
    scores every candidate in every tree (the numpy walk below does depth x 3 passes over
    rows x trees and took 60% of a ranked request). None when scikit-learn is not installed or
    the trees are not in its node order (children after their parent, each tree in its own
    block), which is also what guarantees every walk ends; the numpy walk is then used."""
    try:
        from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    except ImportError:  # the serving image may be built without it
        return None
    n_nodes, roots = len(t.value), t.roots.astype(np.int64)
    if len(roots) == 0 or roots[0] != 0 or np.any(np.diff(roots) <= 0):
        return None
    own_tree = np.searchsorted(roots, np.arange(n_nodes), side="right") - 1
    internal = ~np.asarray(trees["is_leaf"], dtype=bool)
    for side in ("left", "right"):
        child = np.asarray(trees[side], dtype=np.int64)[internal]
        if np.any(child <= np.flatnonzero(internal)) or np.any(own_tree[child] != own_tree[internal]):
            return None
    n_trees, width = len(roots), len(FEATURES)
    routers: list[tuple[float, int, int]] = []  # (threshold, left, right) with placeholders resolved below

    def route(lo: int, hi: int) -> int:
        """Node index (in the final array) of the router over tree ids [lo, hi)."""
        if hi - lo == 1:
            return -1 - lo  # a tree's root, resolved once the router count is known
        at = len(routers)
        routers.append((0.0, 0, 0))
        mid = (lo + hi) // 2
        routers[at] = (mid - 0.5, route(lo, mid), route(mid, hi))
        return at

    route(0, n_trees)
    shift = len(routers)

    def resolve(index: int) -> int:
        return index if index >= 0 else shift + int(roots[-1 - index])

    nodes = np.zeros(shift + n_nodes, dtype=PREDICTOR_RECORD_DTYPE)
    for at, (threshold, left, right) in enumerate(routers):
        nodes[at]["feature_idx"], nodes[at]["num_threshold"] = width, threshold
        nodes[at]["left"], nodes[at]["right"] = resolve(left), resolve(right)
    body = nodes[shift:]
    leaf = ~internal
    body["is_leaf"] = leaf
    body["value"] = t.value
    body["feature_idx"] = np.where(leaf, 0, np.asarray(trees["feature"], dtype=np.int64))
    body["num_threshold"] = np.where(leaf, 0.0, np.asarray(trees["threshold"], dtype=np.float64))
    body["left"] = np.where(leaf, 0, np.asarray(trees["left"], dtype=np.int64) + shift)
    body["right"] = np.where(leaf, 0, np.asarray(trees["right"], dtype=np.int64) + shift)
    # NaN goes right, as ``x <= threshold`` does in the numpy walk (missing_go_to_left = 0)
    return TreePredictor(nodes, np.zeros((0, 8), np.uint32), np.zeros((0, 8), np.uint32))


def _walk_numpy(matrix: np.ndarray, t: CompiledTrees) -> np.ndarray:
    flat = np.ascontiguousarray(matrix, dtype=np.float64).ravel()
    base = (np.arange(len(matrix), dtype=np.int64) * matrix.shape[1])[:, None]
    node = np.broadcast_to(t.roots[None, :], (len(matrix), len(t.roots)))  # [rows, trees]
    for _ in range(t.depth):
        go_left = flat[base + t.feature[node]] <= t.threshold[node]
        node = t.children[go_left.view(np.uint8), node]
    return t.value[node].sum(axis=1)


def tree_score(matrix: np.ndarray, trees: dict[str, list[float]], *, compiled_walk: bool = True) -> np.ndarray:
    """Sum of the trees' leaf values for each row of ``matrix`` (go left when
    ``x[feature] <= threshold``): scikit-learn's compiled walk over the forest as one tree when
    available, else all trees walked together in numpy (the same leaves, summed in the same order)."""
    _, t, predictor = _compiled_entry(trees)
    if len(t.roots) == 0 or len(matrix) == 0:
        return np.zeros(len(matrix))
    if predictor is None or not compiled_walk:
        return _walk_numpy(matrix, t)
    n_trees = len(t.roots)
    rows = np.empty((len(matrix) * n_trees, len(FEATURES) + 1), dtype=np.float64)
    rows[:, : matrix.shape[1]] = np.repeat(np.asarray(matrix, dtype=np.float64), n_trees, axis=0)
    rows[:, matrix.shape[1] : len(FEATURES)] = 0.0
    rows[:, len(FEATURES)] = np.tile(np.arange(n_trees, dtype=np.float64), len(matrix))
    leaves = predictor.predict(rows, np.zeros((0, 8), np.uint32), np.zeros(len(FEATURES) + 1, np.uint32), 1)  # type: ignore[attr-defined]
    return leaves.reshape(len(matrix), n_trees).sum(axis=1)


@dataclass(frozen=True)
class CatalogTables:
    """Per-product arrays over the catalog (row i = product i) and the neighbour matrix."""

    popularity: np.ndarray  # float [n]: decayed line count at the cutoff
    popularity_order: np.ndarray  # int [n]: product rows, most popular first
    category: np.ndarray  # int32 [n], -1 = none
    subcategory: np.ndarray  # int32 [n], -1 = none
    neighbours: sp.csr_matrix  # [n, n]: row i = the top neighbours j of product i with weight B[i, j]

    @property
    def n_products(self) -> int:
        return len(self.popularity)

    @property
    def popularity_rank(self) -> np.ndarray:
        rank = np.empty(self.n_products, dtype=np.int64)
        rank[self.popularity_order] = np.arange(self.n_products)
        return rank


def catalog_tables(
    popularity: np.ndarray, category: np.ndarray, subcategory: np.ndarray, neighbours: sp.csr_matrix
) -> CatalogTables:
    order = np.argsort(-popularity, kind="stable")
    return CatalogTables(
        popularity=np.asarray(popularity, dtype=np.float64),
        popularity_order=order,
        category=np.asarray(category, dtype=np.int32),
        subcategory=np.asarray(subcategory, dtype=np.int32),
        neighbours=neighbours.tocsr(),
    )


@dataclass(frozen=True)
class CustomerItems:
    """One customer's history as of a moment: product rows, line counts, last purchase times."""

    rows: np.ndarray  # int64 [m]
    counts: np.ndarray  # float [m]
    last_ts: np.ndarray  # float [m], epoch seconds

    @classmethod
    def empty(cls) -> CustomerItems:
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` largest of ``scores``, best first (ties by position)."""
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    return part[np.argsort(-scores[part], kind="stable")]


def neighbour_scores(items: CustomerItems, tables: CatalogTables) -> tuple[np.ndarray, np.ndarray]:
    """EASE-style scores ``x . B`` of the products reachable from the history (x = 1 per product
    bought): (product rows, scores), only for products with a non-zero score."""
    if len(items.rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    block = tables.neighbours[items.rows]
    summed = np.asarray(block.sum(axis=0)).ravel() if block.nnz > 5000 else None
    if summed is not None:
        rows = np.flatnonzero(summed)
        return rows, summed[rows]
    coo = block.tocoo()
    rows, inverse = np.unique(coo.col, return_inverse=True)
    return rows.astype(np.int64), np.bincount(inverse, weights=coo.data, minlength=len(rows))


def candidates(
    items: CustomerItems,
    tables: CatalogTables,
    ranker: RankerWeights,
    retrieval_rows: np.ndarray,
    ease: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Union of the history, the neighbour top-N, the retrieval top-N and the popular top-N."""
    ease_rows, ease_values = ease
    best_ease = ease_rows[top_n(ease_values, ranker.n_ease)]
    parts = [items.rows, best_ease, retrieval_rows[: ranker.n_retrieval], tables.popularity_order[: ranker.n_popular]]
    return np.unique(np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]))


def _rank_of(rows: np.ndarray, ranked: np.ndarray, cap: int) -> np.ndarray:
    """log1p of each row's position in ``ranked`` (best first), ``cap`` when absent."""
    position = dict(zip(ranked[:cap].tolist(), range(min(cap, len(ranked))), strict=True))
    return np.log1p(np.array([position.get(r, cap) for r in rows.tolist()], dtype=np.float64))


def _share(codes: np.ndarray, items: CustomerItems, rows: np.ndarray) -> np.ndarray:
    """Share of the customer's lines in each candidate's category (0 when it has none)."""
    total = items.counts.sum()
    if total <= 0:
        return np.zeros(len(rows))
    own = codes[items.rows]
    valid = own >= 0
    if not valid.any():
        return np.zeros(len(rows))
    size = int(max(codes.max(initial=-1), own.max(initial=-1))) + 1
    per_code = np.bincount(own[valid], weights=items.counts[valid], minlength=size) / total
    cand = codes[rows]
    return np.where(cand >= 0, per_code[np.maximum(cand, 0)], 0.0)


def features(
    items: CustomerItems,
    rows: np.ndarray,
    moment: float,
    tables: CatalogTables,
    ranker: RankerWeights,
    retrieval: tuple[np.ndarray, np.ndarray],
    ease: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Feature matrix [len(rows), len(FEATURES)] for candidate ``rows``.

    ``retrieval``: (scores of ``rows`` from the two-tower dot product, the retrieval top-N rows best
    first); zeros and an empty list when the customer has no embedding. ``ease``: the output of
    ``neighbour_scores``."""
    retrieval_scores, retrieval_ranked = retrieval
    ease_rows, ease_values = ease
    n = len(rows)
    out = np.zeros((n, len(FEATURES)))
    out[:, 0] = retrieval_scores
    out[:, 1] = _rank_of(rows, retrieval_ranked, ranker.n_retrieval)
    ease_lookup = dict(zip(ease_rows.tolist(), ease_values.tolist(), strict=True))
    out[:, 2] = [ease_lookup.get(r, 0.0) for r in rows.tolist()]
    out[:, 3] = _rank_of(rows, ease_rows[top_n(ease_values, ranker.n_ease)], ranker.n_ease)
    if len(items.rows):
        where = {r: i for i, r in enumerate(items.rows.tolist())}
        index = np.array([where.get(r, -1) for r in rows.tolist()], dtype=np.int64)
        bought = index >= 0
        counts = np.where(bought, items.counts[np.maximum(index, 0)], 0.0)
        days = np.where(bought, np.maximum(moment - items.last_ts[np.maximum(index, 0)], 0.0) / DAY, 0.0)
        out[:, 4] = bought
        out[:, 5] = np.log1p(counts)
        out[:, 6] = np.where(bought, np.exp2(-days / ranker.half_life_days), 0.0)
        out[:, 7] = np.where(bought, np.log1p(days), 0.0)
        out[:, 8] = counts / max(items.counts.sum(), 1.0)
        out[:, 13] = bought * np.log1p(len(items.rows))
    out[:, 9] = np.log1p(tables.popularity[rows])
    out[:, 10] = np.log1p(np.minimum(tables.popularity_rank[rows], 10_000))
    out[:, 11] = _share(tables.category, items, rows)
    out[:, 12] = _share(tables.subcategory, items, rows)
    return out


def linear_score(matrix: np.ndarray, ranker: RankerWeights) -> np.ndarray:
    """The ranker's score of each feature row: trees (if any) plus the linear part."""
    width = len(ranker.features)
    mean, scale = np.asarray(ranker.mean), np.asarray(ranker.scale)
    score = ((matrix[:, :width] - mean) / scale) @ np.asarray(ranker.weights) + ranker.bias
    if ranker.trees is not None:
        score = score + tree_score(matrix, ranker.trees)
    return score


def score_customer(
    items: CustomerItems,
    moment: float,
    tables: CatalogTables,
    ranker: RankerWeights,
    query: np.ndarray | None,
    product_embeddings: np.ndarray | None,
    retrieval_ranked: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(candidate rows, scores) for one customer. ``query``: the customer's two-tower embedding
    (None when unknown to the two-tower); ``retrieval_ranked``: its top-N product rows if the caller
    already searched an index (else computed here by a full dot product)."""
    if query is not None and product_embeddings is not None:
        if retrieval_ranked is None:
            retrieval_ranked = top_n(product_embeddings @ query, ranker.n_retrieval)
    else:
        retrieval_ranked = np.zeros(0, np.int64)
    ease = neighbour_scores(items, tables)
    rows = candidates(items, tables, ranker, retrieval_ranked, ease)
    retrieval_scores = (
        product_embeddings[rows] @ query
        if query is not None and product_embeddings is not None
        else np.zeros(len(rows))
    )
    matrix = features(items, rows, moment, tables, ranker, (retrieval_scores, retrieval_ranked), ease)
    return rows, linear_score(matrix, ranker)
