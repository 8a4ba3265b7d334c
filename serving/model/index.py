"""Top-k retrieval over the candidate matrix: exact (BLAS) and approximate (faiss IVF-Flat).

Scores are the plain dot product the model was trained with; nothing is normalised.

Exact top-k avoids a full ``argpartition`` over every row (the bottleneck of the naive path):
the products are split into ``group`` strided groups; the k-th largest *group maximum* is a
threshold that at least k scores reach, so every true top-k product lies in one of the k groups
whose maximum is highest. Only those ``k * group_size`` scores are then ranked. The result is
the same as a full sort; ``tests/serving/test_index.py`` checks it against ``np.argsort``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import faiss
import numpy as np

NEG_INF = np.float32(-np.inf)
_SCORE_BUFFER_FLOATS = 4_000_000  # per worker: 16 MB of scores per chunk of queries ...
_MIN_CHUNK_ROWS = 64  # ... but at least 64 queries per chunk on large catalogs
_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor | None:
    """One process-wide pool per size, shared by every loaded version (states come and go)."""
    if threads <= 1:
        return None
    with _POOLS_LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="b2brec-topk")
        return _POOLS[threads]


@dataclass(frozen=True)
class TopK:
    """Per query: product row indices and scores, best first (blocked products left out)."""

    indices: list[np.ndarray]
    scores: list[np.ndarray]


def _group_size(n: int, k: int) -> int:
    ideal = math.sqrt(max(n, 1) / max(k, 1))
    return int(min(256, max(8, 2 ** round(math.log2(max(ideal, 1.0))))))


def _rank(cols: np.ndarray, vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of each row of ``vals`` (columns ``cols``), sorted best first."""
    if vals.shape[1] > k:
        part = np.argpartition(vals, -k, axis=1)[:, -k:]
        cols, vals = np.take_along_axis(cols, part, 1), np.take_along_axis(vals, part, 1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(cols, order, 1), np.take_along_axis(vals, order, 1)


def _split(cols: np.ndarray, vals: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    keep = vals > NEG_INF
    return [c[m] for c, m in zip(cols, keep, strict=True)], [v[m] for v, m in zip(vals, keep, strict=True)]


class ExactIndex:
    """Exact maximum-inner-product top-k with BLAS matmul over float32."""

    kind = "exact"

    def __init__(self, embeddings: np.ndarray, *, threads: int = 2) -> None:
        self.n, self.dim = embeddings.shape
        self.threads = threads
        self._padded = max(256, -(-self.n // 256) * 256)
        matrix = np.zeros((self.dim, self._padded), dtype=np.float32)
        matrix[:, : self.n] = embeddings.T
        self._matrix_t = matrix  # [dim, padded]: one contiguous row per embedding dimension
        self._local = threading.local()
        self._pool = _pool(threads)

    def _buffer(self, rows: int) -> np.ndarray:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None or buffer.shape[0] < rows or buffer.shape[1] != self._padded:
            buffer = np.empty((rows, self._padded), dtype=np.float32)
            self._local.buffer = buffer
        return buffer[:rows]

    @property
    def chunk_rows(self) -> int:
        """Queries per matrix product: enough that the candidate matrix is read from memory a few
        times per batch, not once per handful of queries (at 1M products a 4-row chunk made the
        batch memory-bound: 27 ms/customer instead of ~3)."""
        return int(max(_MIN_CHUNK_ROWS, min(128, _SCORE_BUFFER_FLOATS // self._padded)))

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Candidate embeddings of product ``rows`` ([len(rows), dim])."""
        return self._matrix_t[:, rows].T

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """Full score matrix [queries, n] (for tests and recall measurement)."""
        return (queries.astype(np.float32, copy=False) @ self._matrix_t)[:, : self.n]

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        blocked: np.ndarray | None = None,
        excluded: Sequence[np.ndarray | None] | None = None,
    ) -> TopK:
        """Top ``k`` per query row. ``blocked``: bool [n], True = never recommend (shared filters);
        ``excluded[i]``: product rows to leave out for query i (e.g. already purchased)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        step = self.chunk_rows
        starts = list(range(0, len(queries), step))

        def run(start: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
            part = excluded[start : start + step] if excluded is not None else None
            return self._search_chunk(queries[start : start + step], k, blocked, part)

        if self._pool is not None and len(starts) > 1:
            parts = list(self._pool.map(run, starts))
        else:
            parts = [run(s) for s in starts]
        return TopK(indices=[i for cols, _ in parts for i in cols], scores=[s for _, vals in parts for s in vals])

    def _search_chunk(
        self,
        queries: np.ndarray,
        k: int,
        blocked: np.ndarray | None,
        excluded: Sequence[np.ndarray | None] | None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        rows = len(queries)
        scores = self._buffer(rows)
        np.matmul(queries, self._matrix_t, out=scores)
        scores[:, self.n :] = NEG_INF
        if blocked is not None:
            np.copyto(scores[:, : self.n], NEG_INF, where=blocked[None, :])
        if excluded is not None:
            for row, products in enumerate(excluded):
                if products is not None and len(products):
                    scores[row, products] = NEG_INF
        k = min(k, self.n)
        group = _group_size(self._padded, k)
        groups = self._padded // group
        if k * 4 >= groups:  # tiny catalog or huge k: rank everything
            cols = np.broadcast_to(np.arange(self._padded), scores.shape)
            return _split(*_rank(cols, scores, k))
        maxima = scores.reshape(rows, group, groups).max(axis=1)  # group j = products j, j+groups, ...
        best_groups = np.argpartition(maxima, -k, axis=1)[:, -k:]
        cols = (best_groups[:, :, None] + groups * np.arange(group)[None, None, :]).reshape(rows, -1)
        vals = np.take_along_axis(scores, cols, axis=1)
        return _split(*_rank(cols, vals, k))


class ApproximateIndex:
    """faiss IVF with 4-bit PQ fast-scan codes, re-ranked exactly (``IVF{nlist},PQ{m}x4fsr,RFlat``).

    The fast-scan codes make scanning a probed list ~7x cheaper than IVF-Flat's float vectors;
    the ``k_factor * k`` best candidates are then re-scored with the exact float32 dot product,
    so returned scores are exact. ``nprobe`` is tuned at load time to a recall target."""

    kind = "ivf_pq_fastscan_refine"

    def __init__(self, embeddings: np.ndarray, *, threads: int = 2, seed: int = 0, k_factor: int = 8) -> None:
        self.n, self.dim = embeddings.shape
        data = np.ascontiguousarray(embeddings, dtype=np.float32)
        # 2·√n lists: a probe has a fixed cost besides its codes, so fewer, longer lists won at 1M
        # (0.76 vs 0.94 ms CPU per query at recall 0.95 against 4·√n, and half the build time).
        self.nlist = int(min(8192, max(16, 2 * round(math.sqrt(self.n)))))
        subquantizers = self.dim // 2 if self.dim % 2 == 0 else self.dim
        index = faiss.index_factory(
            self.dim, f"IVF{self.nlist},PQ{subquantizers}x4fsr,RFlat", faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(seed)
        sample = data[rng.choice(self.n, size=min(self.n, self.nlist * 40), replace=False)]
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.seed = seed
        ivf.cp.niter = 12
        faiss.omp_set_num_threads(threads)
        index.train(sample)
        index.add(data)
        self.index = index
        self.threads = threads
        self.k_factor = k_factor
        self.nprobe = 16
        self.recall_at_100: float | None = None

    def tune(self, queries: np.ndarray, exact: ExactIndex, target: float, k: int = 100) -> float:
        """Smallest ``nprobe`` (within 1/32) whose recall@k against ``exact`` on ``queries`` reaches
        ``target``: double until it does, then bisect. Sets and returns the measured recall.
        A single query's cost grows with ``nprobe``; bisecting to 1/32 instead of 1/8 took 1M products
        from nprobe 576 to 448 (two more measurements at load, a fraction of a second)."""
        truth = exact.search(queries, k).indices

        def measure(nprobe: int) -> float:
            self.nprobe = nprobe
            found = self._raw_search(queries, k)[1]
            hits = [len(np.intersect1d(t, f[f >= 0])) / max(1, len(t)) for t, f in zip(truth, found, strict=True)]
            return float(np.mean(hits))

        low, high = 0, 8
        recall = measure(high)
        while recall < target and high < self.nlist:
            low, high = high, min(self.nlist, high * 2)
            recall = measure(high)
        best = (high, recall)
        while high - low > max(1, high // 32):
            middle = (low + high) // 2
            recall = measure(middle)
            if recall >= target:
                high, best = middle, (middle, recall)
            else:
                low = middle
        self.nprobe, self.recall_at_100 = best
        return self.recall_at_100

    def _raw_search(
        self, queries: np.ndarray, k: int, selector: faiss.IDSelector | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        # OpenMP thread counts are per calling thread: one query runs single-threaded (a parallel
        # region per request costs more than it saves, measured 5.0 vs 0.3 ms at 200k under load),
        # a batch uses ``threads``.
        faiss.omp_set_num_threads(self.threads if len(queries) > 1 else 1)
        # faiss's stubs omit the keyword constructor its Python wrapper adds to SearchParameters classes (which also
        # keeps the assigned sub-objects alive), hence the ignores.
        params = faiss.IndexRefineSearchParameters(  # type: ignore[call-arg]
            k_factor=self.k_factor,
            base_index_params=faiss.SearchParametersIVF(nprobe=self.nprobe, sel=selector),  # type: ignore[call-arg]
        )
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        blocked: np.ndarray | None = None,
        excluded: Sequence[np.ndarray | None] | None = None,
    ) -> TopK:
        """Shared filters go to faiss as a bitmap selector; per-query exclusions are over-fetched
        (k + their count) and dropped, so each query still gets k products when k exist."""
        selector = None
        if blocked is not None:
            bits = np.packbits(~blocked, bitorder="little")
            selector = faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(bits))
            # the selector holds a raw pointer into ``bits`` (a SWIG object takes new attributes; the stubs say no)
            selector.bits_keepalive = bits  # type: ignore[attr-defined]
        extra = max((len(e) for e in excluded if e is not None), default=0) if excluded is not None else 0
        fetch = min(self.n, k + extra)
        scores, ids = self._raw_search(queries, fetch, selector)
        out_ids, out_scores = [], []
        for row in range(len(ids)):
            keep = ids[row] >= 0
            drop = excluded[row] if excluded is not None else None
            if drop is not None and len(drop):
                keep &= ~np.isin(ids[row], drop)
            out_ids.append(ids[row][keep][:k])
            out_scores.append(scores[row][keep][:k])
        return TopK(indices=out_ids, scores=out_scores)
