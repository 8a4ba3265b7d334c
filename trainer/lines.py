"""Sales lines behind DuckDB, so training holds aggregates instead of every line.

A ``Lines`` is a view over either a pandas frame (tests, benchmarks, small data) or Parquet files
spooled from the extracted TFRecords (``trainer.data.spool_split``; the train stage). Everything the
served model needs from lines goes through SQL here and comes back aggregated: per (customer,
product) pair, per product, per customer. Memory is then bounded by the number of pairs and the
catalog, not by the number of lines; the only row-level read is ``tail`` (the two-tower's capped
recent rows). Both sources run the same SQL, so the small and the large path cannot drift apart.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from b2brec.features import PRODUCT_ATTRIBUTES

DAY = 86400.0
ATTRIBUTES = PRODUCT_ATTRIBUTES
"""Product attributes a row may carry (the feature contract's candidate features besides the id)."""
_names = itertools.count()


class Lines:
    """Rows with at least ``customer_id, product_id, timestamp`` (epoch seconds) and ``revenue``,
    optionally ``city`` and product attributes, restricted by ``where``.

    With ``earlier`` pairs (``from_parquet(..., earlier=...)``) a row may stand for several lines: one
    row per (customer, product) bought before the extracted window, ``n_lines`` its line count,
    ``timestamp`` its last purchase, ``revenue`` its sum. Counts are then sums of ``n_lines``, and a
    pair's time-decayed weight is approximated as ``n_lines x decay(last purchase)``. Earlier pairs add
    history (customers, what they bought, query features), never products: ``product_ids`` is what
    sold in the window."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        source: str,
        columns: Sequence[str],
        where: str = "TRUE",
        weighted: bool = False,
    ):
        self.conn = conn
        self.source = source
        self.columns = tuple(columns)
        self.where = where
        self.weighted = weighted
        self._frame: pd.DataFrame | None = None  # keeps a registered frame alive

    @property
    def n(self) -> str:
        """SQL for the number of lines of a group."""
        return "SUM(n_lines)" if self.weighted else "COUNT(*)"

    # --- construction -----------------------------------------------------------------------------
    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Lines:
        conn = duckdb.connect()
        conn.execute("SET threads TO 2")
        name = f"lines_{next(_names)}"
        conn.register(name, frame)
        lines = cls(conn, name, list(frame.columns))
        lines._frame = frame
        return lines

    @classmethod
    def from_parquet(
        cls,
        paths: Sequence[str | Path],
        *,
        earlier: str | Path | None = None,
        memory_limit: str = "512MB",
        temp_directory: str | None = None,
    ) -> Lines:
        """Lines of Parquet files (plus the ``earlier`` pairs file, see the class docstring); DuckDB
        works under ``memory_limit`` and spills to ``temp_directory``."""
        conn = duckdb.connect()
        conn.execute("SET threads TO 2")
        conn.execute(f"SET memory_limit = '{memory_limit}'")
        conn.execute("SET preserve_insertion_order = false")
        if temp_directory:
            conn.execute(f"SET temp_directory = '{temp_directory}'")
        files = ", ".join(f"'{Path(p).as_posix()}'" for p in paths)
        source = f"read_parquet([{files}])"
        if earlier is not None:
            source = (
                f"(SELECT *, 1 AS n_lines, FALSE AS earlier FROM {source} UNION ALL BY NAME "
                f"SELECT *, TRUE AS earlier FROM read_parquet('{Path(earlier).as_posix()}'))"
            )
        columns = [row[0] for row in conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        return cls(conn, source, columns, weighted=earlier is not None)

    def _with(self, condition: str) -> Lines:
        lines = Lines(self.conn, self.source, self.columns, f"({self.where}) AND ({condition})", self.weighted)
        lines._frame = self._frame
        return lines

    def before(self, moment: float) -> Lines:
        return self._with(f"timestamp < {float(moment)!r}")

    def since(self, moment: float) -> Lines:
        return self._with(f"timestamp >= {float(moment)!r}")

    # --- queries ----------------------------------------------------------------------------------
    @property
    def rel(self) -> str:
        return f"(SELECT * FROM {self.source} WHERE {self.where})"

    def has(self, column: str) -> bool:
        return column in self.columns

    def df(self, sql: str) -> pd.DataFrame:
        return self.conn.execute(sql).df()

    def count(self) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {self.rel}").fetchone()[0])  # type: ignore[index]

    def __len__(self) -> int:
        return self.count()

    def n_customers(self) -> int:
        return int(self.conn.execute(f"SELECT COUNT(DISTINCT customer_id) FROM {self.rel}").fetchone()[0])  # type: ignore[index]

    def max_timestamp(self) -> float | None:
        value = self.conn.execute(f"SELECT MAX(timestamp) FROM {self.rel}").fetchone()[0]  # type: ignore[index]
        return None if value is None else float(value)

    def product_ids(self) -> list[str]:
        """Every product sold (in the window: earlier pairs add none), sorted."""
        window = "WHERE NOT earlier" if self.weighted else ""
        frame = self.df(f"SELECT DISTINCT product_id FROM {self.rel} {window} ORDER BY product_id")
        return frame["product_id"].tolist()

    def pairs(self, moment: float, half_life_days: float) -> pd.DataFrame:
        """One row per (customer, product): lines ``n``, ``last_ts``, ``decayed`` = Σ 0.5^(age / half-life)
        as of ``moment`` (ages below zero count as zero), ``revenue``."""
        scale = half_life_days * DAY
        revenue = "SUM(revenue)" if self.has("revenue") else "0.0"
        weight = "n_lines * " if self.weighted else ""
        decay = f"{weight}pow(2.0, -greatest({float(moment)!r} - timestamp, 0) / {scale!r})"
        return self.df(
            f"SELECT customer_id, product_id, {self.n} AS n, MAX(timestamp) AS last_ts, SUM({decay}) AS decayed, "
            f"{revenue} AS revenue FROM {self.rel} GROUP BY customer_id, product_id"
        )

    def distinct_pairs(self) -> pd.DataFrame:
        return self.df(f"SELECT DISTINCT customer_id, product_id FROM {self.rel} ORDER BY customer_id, product_id")

    def products_by_customer(self) -> dict[str, set[str]]:
        frame = self.distinct_pairs()
        out: dict[str, set[str]] = {}
        for customer, product in zip(frame["customer_id"].tolist(), frame["product_id"].tolist(), strict=True):
            out.setdefault(customer, set()).add(product)
        return out

    def product_counts(self) -> pd.Series:
        """Lines per product."""
        frame = self.df(f"SELECT product_id, {self.n} AS n FROM {self.rel} GROUP BY product_id")
        return pd.Series(frame["n"].to_numpy(), index=frame["product_id"].to_numpy(), dtype=np.int64)

    def product_attributes(self) -> pd.DataFrame:
        """Per product: its latest ``art_name``/``category``/``subcategory`` (those present) and lines ``n``,
        indexed by product id."""
        present = [c for c in ATTRIBUTES if self.has(c)]
        latest = "".join(f", arg_max({c}, timestamp) AS {c}" for c in present)
        frame = self.df(f"SELECT product_id, {self.n} AS n{latest} FROM {self.rel} GROUP BY product_id")
        return frame.set_index("product_id")

    def cities(self) -> dict[str, str]:
        """Each customer's latest city (empty when the lines carry none)."""
        if not self.has("city"):
            return {}
        frame = self.df(f"SELECT customer_id, arg_max(city, timestamp) AS city FROM {self.rel} GROUP BY customer_id")
        return dict(zip(frame["customer_id"].tolist(), frame["city"].tolist(), strict=True))

    def customer_totals(self) -> pd.DataFrame:
        """Per customer: lines ``n``, ``revenue`` and ``last_ts``, indexed by customer id."""
        revenue = "SUM(revenue)" if self.has("revenue") else "0.0"
        return self.df(
            f"SELECT customer_id, {self.n} AS n, {revenue} AS revenue, MAX(timestamp) AS last_ts "
            f"FROM {self.rel} GROUP BY customer_id"
        ).set_index("customer_id")

    def recent_products(self, length: int) -> pd.DataFrame:
        """Each customer's ``length`` most recently bought distinct products (latest first; ties: the
        larger product id first, as a time-ordered pass that moves each bought product to the front
        gives) with their line counts."""
        return self.df(
            "SELECT customer_id, product_id, n FROM ("
            f"SELECT customer_id, product_id, {self.n} AS n, "
            "row_number() OVER (PARTITION BY customer_id ORDER BY MAX(timestamp) DESC, product_id DESC) AS r "
            f"FROM {self.rel} GROUP BY customer_id, product_id) WHERE r <= {int(length)} "
            "ORDER BY customer_id, r"
        )

    def popularity(self) -> pd.DataFrame:
        """Lines per product overall (``city`` null) and per non-empty city: ``product_id, city, score``."""
        parts = [f"SELECT product_id, CAST(NULL AS VARCHAR) AS city, {self.n} AS score FROM {self.rel} GROUP BY 1"]
        if self.has("city"):
            parts.append(
                f"SELECT product_id, city, {self.n} AS score FROM {self.rel} "
                "WHERE city IS NOT NULL AND city != '' GROUP BY 1, 2"
            )
        frame = self.df(" UNION ALL ".join(parts) + " ORDER BY city NULLS FIRST, product_id")
        frame["score"] = frame["score"].astype(float)
        return frame

    def tail(self, n: int) -> pd.DataFrame:
        """The last ``n`` rows in time order (ties by customer, then product): a bounded row-level read."""
        order = "timestamp DESC, customer_id DESC, product_id DESC"
        window = "WHERE NOT earlier" if self.weighted else ""
        frame = self.df(f"SELECT * FROM {self.rel} {window} ORDER BY {order} LIMIT {int(n)}")
        return frame.iloc[::-1].reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """Every row, time-ordered (small data only: this is the in-memory path)."""
        return self.df(f"SELECT * FROM {self.rel} ORDER BY timestamp, customer_id, product_id")


def as_lines(data: pd.DataFrame | Lines) -> Lines:
    return data if isinstance(data, Lines) else Lines.from_frame(data)


def close(lines: Any) -> None:
    if isinstance(lines, Lines):
        lines.conn.close()
