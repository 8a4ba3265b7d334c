"""Generator configuration and result types, validated up front with messages a user can act on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from b2brec.errors import B2BRecError

MIN_TRANSACTIONS = 1_000
MAX_TRANSACTIONS = 10_000_000
MAX_CUSTOMERS = 200_000
MAX_PRODUCTS = 40_000
MIN_DAYS, MAX_DAYS = 7, 3_650
DEFAULT_END_DATE = date(2026, 11, 1)
DEFAULT_CHUNK_SIZE = 50_000
MODES = ("demo", "realistic")
Mode = Literal["demo", "realistic"]


class DatagenError(B2BRecError):
    """Bad generator input or an unusable target (URL, existing tables)."""

    code = "datagen"


def default_customers(transactions: int) -> int:
    """About 300 customers for 10k lines, 5k for 1M, 20k for 10M (a power law through those points)."""
    return max(20, round(1.08 * transactions**0.611))


def default_realistic_customers(transactions: int) -> int:
    """About 110 customer lines per customer (a quarter of lines have none): 750 for 100k lines."""
    return max(20, round(transactions * 0.75 / 90))


def default_realistic_products(transactions: int) -> int:
    """A catalogue that grows slowly with the history: ~1.9k products for 100k lines, ~3.8k for 1M."""
    return min(MAX_PRODUCTS, max(50, round(60 * transactions**0.3)))


def default_products(transactions: int) -> int:
    """About 800 products for 10k lines, 10k for 1M, capped by the catalogue's name space."""
    return min(MAX_PRODUCTS, max(50, round(5.14 * transactions**0.548)))


@dataclass(frozen=True, kw_only=True)
class GeneratorConfig:
    """What to generate. Same config (seed included) => byte-identical data.

    ``customers``/``products`` default to a function of ``transactions``; sales fall in the
    ``days`` days before ``end_date`` (exclusive). ``chunk_size`` bounds rows held in memory
    per write and does not change the data. ``mode="realistic"`` writes invoice lines with the
    untidiness of a real ERP export (see ``realistic.py``); ``"demo"`` is the tidy default.
    """

    transactions: int = 100_000
    customers: int | None = None
    products: int | None = None
    seed: int = 42
    end_date: date = DEFAULT_END_DATE
    days: int = 365
    chunk_size: int = DEFAULT_CHUNK_SIZE
    mode: Mode = "demo"
    n_customers: int = field(init=False)
    n_products: int = field(init=False)

    def __post_init__(self) -> None:
        _check_int("transactions", self.transactions, MIN_TRANSACTIONS, MAX_TRANSACTIONS)
        _check_int("days", self.days, MIN_DAYS, MAX_DAYS)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("chunk_size", self.chunk_size, 100, 5_000_000)
        if isinstance(self.end_date, datetime) or not isinstance(self.end_date, date):
            raise DatagenError(f"end_date must be a date (YYYY-MM-DD), got {self.end_date!r}")
        if self.mode not in MODES:
            raise DatagenError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        realistic = self.mode == "realistic"
        default_c = default_realistic_customers if realistic else default_customers
        default_p = default_realistic_products if realistic else default_products
        customers = default_c(self.transactions) if self.customers is None else self.customers
        products = default_p(self.transactions) if self.products is None else self.products
        _check_int("customers", customers, 10, min(MAX_CUSTOMERS, self.transactions // 2))
        _check_int("products", products, 20, MAX_PRODUCTS)
        object.__setattr__(self, "n_customers", customers)
        object.__setattr__(self, "n_products", products)

    @property
    def start_date(self) -> date:
        return date.fromordinal(self.end_date.toordinal() - self.days)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DatagenError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise DatagenError(f"{name} must be between {low:,} and {high:,}, got {value:,}")


@dataclass(frozen=True)
class GenerationSummary:
    """What ``generate`` wrote."""

    customers: int
    products: int
    transactions: int
    first_sale: datetime
    last_sale: datetime
    seconds: float
    target: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.transactions / self.seconds if self.seconds > 0 else math.inf


@dataclass(frozen=True)
class ChangeSummary:
    """What ``append_changes`` did: new and updated sales line ids, and the new high-water mark."""

    new_ids: list[int]
    updated_ids: list[int]
    max_updated_at: datetime
    seconds: float
