"""Synthetic wholesale (B2B) sales data: a client ERP's customers, products and sales lines.

    from b2brec.datagen import GeneratorConfig, generate, append_changes
    summary = generate(GeneratorConfig(transactions=100_000, seed=42), "sqlite:///erp.sqlite")

Deterministic for a given config (seed included), streamed in bounded chunks, with the
structure a recommender can learn: long-tailed popularity, staples re-ordered on regular
cycles, bulk quantities, weekly and yearly seasonality, segment tastes and city effects.
"""

from b2brec.datagen.changes import append_changes
from b2brec.datagen.config import ChangeSummary, DatagenError, GenerationSummary, GeneratorConfig
from b2brec.datagen.generate import generate

__all__ = [
    "ChangeSummary",
    "DatagenError",
    "GenerationSummary",
    "GeneratorConfig",
    "append_changes",
    "generate",
]
