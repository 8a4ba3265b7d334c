"""Does a newly trained model beat the live one on the same test set? (scheduled retraining's deploy rule)

The candidate's Recall@100 comes from its own train stage (``train_result.json``: the model fitted on
rows before the test period, scored on it). The live model is scored here on *that* test period: its
served bundle answers every evaluated customer through the serving code (``serving.recommend``, the
answers ``/recommend`` gives), and Recall@100 is counted the trainer's way (``all`` view: every
product the customer bought in the test period is truth, including ones outside the catalog).

The live bundle may have seen part of that test period (its own cutoff can be later than the new
test period's start): the comparison then favours the live model, so a candidate that wins anyway
clearly wins. The rule stays conservative rather than deploying a model that only looks better.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from b2brec.backends.storage import ObjectStore
from b2brec.bundle import read_bundle
from b2brec.live import live_version
from b2brec.quality import PRIMARY_METRIC, may_promote, verdict

K = 100


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The decision and what it rests on (kept in the job row and shown on the run's page)."""

    deploy: bool
    reason: str
    metric: str = PRIMARY_METRIC
    candidate: float | None = None
    live: float | None = None
    live_version: str | None = None
    customers: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(candidate: float, live: float | None, quality: dict[str, Any] | None, live_quality: dict[str, Any] | None,
           live_name: str | None = None) -> tuple[bool, str]:  # fmt: skip
    """The deploy rule: the candidate must score strictly higher than the live model on the same
    test set, and must not be refused by ``may_promote`` (losing to its baselines when the live one
    does not)."""
    if live is None:
        return True, "no live model yet"
    duel = verdict({PRIMARY_METRIC: candidate}, {f"live {live_name or ''}".strip(): {PRIMARY_METRIC: live}})
    if duel.loses_to_baseline or (duel.margin is not None and duel.margin <= 0):
        return False, (
            f"the new model does not beat the live one on the same test set ({PRIMARY_METRIC} "
            f"{candidate:.4f} vs live {live:.4f}); the live model stays"
        )
    allowed, why = may_promote(quality, live_quality)
    if not allowed:
        return False, why
    return True, f"the new model beats the live one on the same test set ({candidate:.4f} vs {live:.4f})"


def live_recall(models: ObjectStore, version: str, dataset_url: str) -> tuple[float, int]:
    """Recall@100 of the live bundle ``version`` on the test period of the dataset at
    ``dataset_url`` (customers with purchases before and in the test period, as the trainer counts)."""
    from serving.model.state import FilterSpec, build_state
    from serving.recommend import recommend
    from trainer.data import load_split, read_metadata

    metadata = read_metadata(dataset_url)
    train, test = load_split(dataset_url, "train", metadata), load_split(dataset_url, "test", metadata)
    bought = set(train["customer_id"])
    wanted = test.groupby("customer_id")["product_id"].agg(set)
    customers = sorted(c for c in wanted.index if c in bought)
    if not customers:
        return 0.0, 0
    state = build_state(read_bundle(models, version), approx_threshold=10**9)
    answers = recommend(state, customers, K, FilterSpec())
    recalls = []
    for customer, answer in zip(customers, answers, strict=True):
        truth = wanted[customer]
        ranked = {str(state.product_ids[row]) for row in np.asarray(answer.product_rows)[:K]}
        recalls.append(len(ranked & truth) / len(truth))
    return float(np.mean(recalls)), len(customers)


def compare_with_live(data: ObjectStore, models: ObjectStore, run_id: str) -> Comparison:
    """Score the live model on run ``run_id``'s test set and decide whether ``run_id`` replaces it."""
    result = json.loads(models.read_text(f"{run_id}/train_result.json"))
    candidate = float(result.get("metrics", {}).get(PRIMARY_METRIC, 0.0))
    current = live_version(models)
    if current is None:
        return Comparison(deploy=True, reason="no live model yet", candidate=candidate)
    if current == run_id:
        return Comparison(deploy=False, reason="this model is already live", candidate=candidate, live_version=current)
    live, customers = live_recall(models, current, data.url(f"datasets/{run_id}"))
    live_result = f"{current}/train_result.json"
    live_quality = json.loads(models.read_text(live_result)).get("quality") if models.exists(live_result) else None
    deploy, reason = decide(candidate, live, result.get("quality"), live_quality, current)
    return Comparison(
        deploy=deploy,
        reason=reason,
        candidate=candidate,
        live=live,
        live_version=current,
        customers=customers,
    )
