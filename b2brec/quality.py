"""Does a trained model beat the simple baselines on its own split, and may it replace a live one?

The train stage computes a ``QualityVerdict`` (model vs. every baseline on the same split) and
stores it in the run summary, the MLflow run and registry tags, and the bundle manifest
(``extra["quality"]``), so the CLI and the apps show it. ``may_promote`` is the rule for anything
that deploys automatically: a model that loses to a baseline never replaces a live model that
does not (or that scores higher).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PRIMARY_METRIC = "all/recall@100"
"""The headline: Recall@100 with repeat purchases counted, on the full test-period truth."""
SECONDARY_METRIC = "all/recall@10"


@dataclass(frozen=True, kw_only=True)
class QualityVerdict:
    metric: str
    model: float
    best_baseline: str | None
    baseline: float | None
    loses_to_baseline: bool
    margin: float | None
    secondary: dict[str, float | str | None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def summary(self) -> str:
        if self.best_baseline is None:
            return f"{self.metric} {self.model:.4f} (no baselines run: quality unknown)"
        verdict = "LOSES to" if self.loses_to_baseline else "beats"
        return (
            f"{self.metric} {self.model:.4f} {verdict} the best baseline {self.best_baseline} "
            f"({self.baseline:.4f}, margin {self.margin:+.4f})"
        )


def verdict(
    model: dict[str, float], baselines: dict[str, dict[str, float]], metric: str = PRIMARY_METRIC
) -> QualityVerdict:
    """Compare ``model`` metrics with each baseline's (flat ``view/metric`` keys) on ``metric``."""
    value = float(model.get(metric, 0.0))
    secondary: dict[str, float | str | None] = {"metric": SECONDARY_METRIC, "model": model.get(SECONDARY_METRIC)}
    if not baselines:
        return QualityVerdict(
            metric=metric,
            model=value,
            best_baseline=None,
            baseline=None,
            loses_to_baseline=False,
            margin=None,
            secondary=secondary,
        )
    name, best = max(baselines.items(), key=lambda item: float(item[1].get(metric, 0.0)))
    top = float(best.get(metric, 0.0))
    runner_up = max(baselines.items(), key=lambda item: float(item[1].get(SECONDARY_METRIC, 0.0)))
    secondary |= {"best_baseline": runner_up[0], "baseline": runner_up[1].get(SECONDARY_METRIC)}
    return QualityVerdict(
        metric=metric,
        model=value,
        best_baseline=name,
        baseline=top,
        loses_to_baseline=value < top,
        margin=value - top,
        secondary=secondary,
    )


def may_promote(candidate: dict[str, Any] | None, live: dict[str, Any] | None) -> tuple[bool, str]:
    """Whether an automatic deploy may replace ``live`` by ``candidate`` (their manifests'
    ``extra["quality"]`` dicts; None = unknown). A person deploying by hand is not bound by this."""
    if live is None:
        return True, "no live model"
    if not candidate or not candidate.get("loses_to_baseline"):
        return True, "the new model does not lose to its baselines"
    if live.get("loses_to_baseline") and float(live.get("model", 0.0)) < float(candidate.get("model", 0.0)):
        return True, "both lose to a baseline; the new model scores higher"
    return False, (
        f"the new model loses to the baseline {candidate.get('best_baseline')} on {candidate.get('metric')} "
        f"({candidate.get('model', 0.0):.4f} < {candidate.get('baseline', 0.0):.4f}); the live model stays. "
        "Deploy it by hand if you want it anyway"
    )
