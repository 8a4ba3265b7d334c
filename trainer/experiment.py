"""Model vs. every baseline on one time split: what ``b2brec evaluate`` and the quality benchmark run.

The served model and the baselines see the same rows (everything strictly before the cutoff) and
are scored by one evaluator on the same customers and the same truth (everything they bought in
the test period).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from b2brec.quality import QualityVerdict, verdict
from trainer import baselines
from trainer.evaluation import EvalSplit, build_split, evaluate_both
from trainer.lines import Lines, as_lines
from trainer.model.hybrid import HybridConfig, HybridModel, fit_hybrid

MODEL = "b2brec (served model)"


@dataclass
class Comparison:
    rows: dict[str, dict[str, float]]
    split: EvalSplit
    quality: QualityVerdict
    model: HybridModel
    info: dict[str, Any] = field(default_factory=dict)


def compare(
    train: pd.DataFrame | Lines,
    test: pd.DataFrame | Lines,
    cutoff: float,
    features: list[str],
    config: HybridConfig | None = None,
    *,
    with_baselines: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> Comparison:
    """Fit the served model and every baseline on ``train`` (rows before ``cutoff``), score on ``test``."""
    train = as_lines(train).before(cutoff)
    test = as_lines(test)
    step = on_step or (lambda _: None)
    split = build_split(train, test)
    step("training the served model")
    model = fit_hybrid(train, cutoff, features, config)
    step("scoring the served model")
    rows = {MODEL: evaluate_both(model.scorer(split), split) | {"seconds": model.timings.get("total", 0.0)}}
    if with_baselines:
        for name, fitted in baselines.fit_all(train, split, moment=cutoff).items():
            step(f"baseline {name}")
            started = time.perf_counter()
            metrics = evaluate_both(fitted.scorer, split)
            rows[name] = metrics | {"seconds": fitted.seconds, "eval_seconds": time.perf_counter() - started}
    quality = verdict(rows[MODEL], {k: v for k, v in rows.items() if k != MODEL})
    info = {
        "train_rows": train.count(),
        "test_rows": test.count(),
        "customers": len(split.customers),
        "catalog": split.n_products,
        "repeat_share": split.repeat_share,
        **model.info,
        "timings": model.timings,
    }
    return Comparison(rows=rows, split=split, quality=quality, model=model, info=info)
