from __future__ import annotations

from datetime import date, datetime

import pytest

from b2brec.datagen import DatagenError, GeneratorConfig
from b2brec.datagen.config import default_customers, default_products


def test_defaults_scale_with_transactions() -> None:
    # the brief's anchor points: 10k lines -> ~300 customers / ~800 products; 1M -> ~5k / ~10k
    assert 270 <= default_customers(10_000) <= 330
    assert 720 <= default_products(10_000) <= 880
    assert 4_500 <= default_customers(1_000_000) <= 5_500
    assert 9_000 <= default_products(1_000_000) <= 11_000
    cfg = GeneratorConfig(transactions=10_000)
    assert (cfg.n_customers, cfg.n_products) == (default_customers(10_000), default_products(10_000))
    assert cfg.start_date == date(2025, 11, 1)


def test_explicit_sizes_win() -> None:
    cfg = GeneratorConfig(transactions=5_000, customers=50, products=120)
    assert (cfg.n_customers, cfg.n_products) == (50, 120)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transactions": 999}, "transactions must be between 1,000 and 10,000,000, got 999"),
        ({"transactions": 10_000_001}, "transactions must be between"),
        ({"transactions": 2_000.5}, "transactions must be a whole number"),
        ({"days": 3}, "days must be between 7"),
        ({"customers": 5}, "customers must be between 10"),
        ({"transactions": 2_000, "customers": 1_500}, "customers must be between 10 and 1,000"),
        ({"products": 50_000}, "products must be between 20 and 40,000"),
        ({"end_date": datetime(2026, 1, 1)}, "end_date must be a date"),
        ({"seed": -1}, "seed must be between 0"),
    ],
)
def test_bad_config_is_explained(kwargs: dict, message: str) -> None:
    with pytest.raises(DatagenError, match=message.replace("(", r"\(")):
        GeneratorConfig(**kwargs)
