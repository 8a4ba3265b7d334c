"""The re-ranking model at request time: the same ``b2brec.ranking`` code the trainer evaluated.

``RankingState`` is built once per loaded version from the bundle's ``ranking/`` files. A
customer's history comes from a ``HistorySource``: by default the bundle's own (every purchase
before the cutoff, scored as of the cutoff); the live warehouse history (``serving/history.py``)
plugs in through ``items_from_history`` with the request time as the moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from b2brec.bundle import ServingBundle
from b2brec.ranking import CatalogTables, CustomerItems, RankerWeights, catalog_tables, score_customer


class HistoryRecord(Protocol):
    """What a history item must offer (``serving.history.HistoryItem`` does)."""

    @property
    def product_id(self) -> str: ...

    @property
    def count(self) -> float: ...

    @property
    def last_ts(self) -> float: ...


@dataclass(frozen=True)
class RankingState:
    tables: CatalogTables
    ranker: RankerWeights
    history: dict[str, CustomerItems]
    moment: float
    product_rows: dict[str, int]
    candidate_embeddings: np.ndarray

    def items(self, customer_id: str) -> CustomerItems:
        return self.history.get(customer_id, CustomerItems.empty())

    def score(
        self, items: CustomerItems, query: np.ndarray | None, retrieval_ranked: np.ndarray | None, moment: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(candidate rows, scores), best first."""
        rows, scores = score_customer(
            items, moment, self.tables, self.ranker, query, self.candidate_embeddings, retrieval_ranked
        )
        order = np.argsort(-scores, kind="stable")
        return rows[order], scores[order]


def items_from_history(records: Iterable[HistoryRecord], product_rows: dict[str, int]) -> CustomerItems:
    """A live history (e.g. ``CustomerHistory.items(customer)``) as ranking input; products this
    model version does not know are skipped."""
    kept = [
        (product_rows[r.product_id], float(r.count), float(r.last_ts)) for r in records if r.product_id in product_rows
    ]
    if not kept:
        return CustomerItems.empty()
    rows, counts, last = (np.array(v) for v in zip(*kept, strict=True))
    return CustomerItems(rows.astype(np.int64), counts.astype(np.float64), last.astype(np.float64))


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    encoded = pc.dictionary_encode(column).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), -1, codes).astype(np.int32)


def _history(bundle: ServingBundle, product_rows: dict[str, int]) -> dict[str, CustomerItems]:
    assert bundle.ranking is not None
    table = bundle.ranking.history
    products = pc.index_in(table.column("product_id"), value_set=bundle.products.column("product_id"))
    valid = pc.is_valid(products).to_numpy(zero_copy_only=False)
    customers = np.asarray(table.column("customer_id").to_pylist(), dtype=object)[valid]
    rows = products.to_numpy(zero_copy_only=False)[valid].astype(np.int64)
    counts = table.column("count").to_numpy()[valid]
    last = table.column("last_ts").to_numpy()[valid]
    order = np.argsort(customers, kind="stable")
    customers, rows, counts, last = customers[order], rows[order], counts[order], last[order]
    bounds = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1], True])
    return {
        str(customers[a]): CustomerItems(rows[a:b], counts[a:b], last[a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    }


def build_ranking_state(bundle: ServingBundle) -> RankingState | None:
    """None when the bundle has no ranking files (a two-tower-only bundle)."""
    if bundle.ranking is None:
        return None
    ranking = bundle.ranking
    n = bundle.products.num_rows
    product_ids = bundle.products.column("product_id").to_pylist()
    product_rows = {p: i for i, p in enumerate(product_ids)}
    neighbours = sp.csr_matrix(
        (
            ranking.neighbours.column("weight").to_numpy().astype(np.float64),
            (
                ranking.neighbours.column("product_row").to_numpy().astype(np.int64),
                ranking.neighbours.column("neighbour_row").to_numpy().astype(np.int64),
            ),
        ),
        shape=(n, n),
    )
    tables = catalog_tables(
        np.asarray(ranking.popularity, dtype=np.float64),
        _codes(bundle.products.column("category")),
        _codes(bundle.products.column("subcategory")),
        neighbours,
    )
    return RankingState(
        tables=tables,
        ranker=RankerWeights.from_dict(ranking.ranker),
        history=_history(bundle, product_rows),
        moment=float(bundle.manifest.extra.get("moment", 0.0)),
        product_rows=product_rows,
        candidate_embeddings=np.ascontiguousarray(bundle.candidate_embeddings, dtype=np.float32),
    )
