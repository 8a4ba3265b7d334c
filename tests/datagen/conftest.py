"""Small generated worlds shared by the datagen tests (module scope keeps the suite fast)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from b2brec.datagen import GeneratorConfig
from b2brec.datagen.sales import iter_sales_chunks
from b2brec.datagen.world import World, build_world


@dataclass(frozen=True)
class Generated:
    world: World
    customer: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    amount: np.ndarray
    sold_at: np.ndarray
    updated_at: np.ndarray
    line_id: np.ndarray


def simulate(cfg: GeneratorConfig, chunk_size: int | None = None) -> Generated:
    world = build_world(cfg)
    chunks = list(iter_sales_chunks(world, chunk_size))
    cols = {
        name: np.concatenate([getattr(c, name) for c in chunks])
        for name in ("customer", "product", "quantity", "amount", "sold_at", "updated_at", "line_id")
    }
    return Generated(world, **cols)


@pytest.fixture(scope="session")
def sample() -> Generated:
    """20k lines, the default seed: big enough for the statistics below, ~0.3 s to build."""
    return simulate(GeneratorConfig(transactions=20_000, seed=42))
