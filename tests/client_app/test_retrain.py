"""Scheduled retraining with real pipeline runs on a small demo client: no new data → skipped (reason
kept and shown); new data → trained; a new model that scores higher than the live one on the same
test set → deployed; one that scores lower → trained but not deployed (reason shown).

The runs are driven in this process (``services.execute``, what the worker task calls); the stages
are real subprocess jobs, the live model is scored by the serving code on the new run's test set.
The world has more products than the k of Recall@100 (with fewer, every model scores 1.0)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from b2brec.live import live_version, set_live_version
from b2brec.projects.local import LocalClientProject
from client_app.models import Job, set_preference
from client_app.training import retrain, services
from client_app.training.compare import decide
from trainer.synthetic import WholesaleConfig, generate, load_into_warehouse

# small, fast runs (a 30-day window, two epochs); the catalog share is chosen per run
FAST = {"window_days": 30, "epochs": 2, "embedding_dim": 16, "batch_size": 64}


def _add_week_of_sales(project: LocalClientProject, tag: str) -> None:
    """New data: the last week's sales again, a week later (new line ids)."""
    project.warehouse().execute(
        "INSERT INTO raw_data.transactions SELECT * REPLACE ("
        f"timestamp + INTERVAL 7 DAY AS timestamp, transaction_id || '-{tag}' AS transaction_id) "
        "FROM raw_data.transactions WHERE timestamp > (SELECT MAX(timestamp) FROM raw_data.transactions) "
        "- INTERVAL 7 DAY"
    )


def _add_late_sales(project: LocalClientProject) -> None:
    """New data that is not newer: sales lines of two weeks ago loaded late (the newest sale stays)."""
    project.warehouse().execute(
        "INSERT INTO raw_data.transactions SELECT * REPLACE (transaction_id || '-late' AS transaction_id) "
        "FROM raw_data.transactions WHERE timestamp BETWEEN (SELECT MAX(timestamp) FROM raw_data.transactions) "
        "- INTERVAL 15 DAY AND (SELECT MAX(timestamp) FROM raw_data.transactions) - INTERVAL 14 DAY"
    )


def _choose(app: Flask, coverage: float) -> None:
    with app.app_context():
        from client_app.extensions import db

        set_preference("feature_choices", {**FAST, "revenue_coverage": coverage})
        db.session.commit()


def _scheduled(app: Flask) -> Job:
    """One scheduled check, driven to its end like the worker does."""
    with app.app_context():
        job = retrain.run_scheduled()
        if job.status == "queued":
            services.execute(job.id)
        from client_app.extensions import db

        db.session.expire_all()
        return db.session.get(Job, job.id)


def test_new_data_reason() -> None:
    last = {"rows": 100, "newest": "2026-11-01T00:00:00"}
    assert retrain.new_data_reason({"rows": 0, "newest": None}, last)[0] is False
    assert retrain.new_data_reason({"rows": 5, "newest": "2026-10-01T00:00:00"}, None)[0] is True
    same, why = retrain.new_data_reason(dict(last), last)
    assert same is False and "no new data" in why
    assert retrain.new_data_reason({"rows": 120, "newest": "2026-11-02T00:00:00"}, last) == (
        True,
        "new sales up to 2026-11-02T00:00:00 (the last run's data ended 2026-11-01T00:00:00)",
    )
    assert retrain.new_data_reason({"rows": 120, "newest": "2026-11-01T00:00:00"}, last)[0] is True  # late rows


def test_deploy_rule() -> None:
    assert decide(0.5, None, None, None) == (True, "no live model yet")
    assert decide(0.6, 0.5, None, None)[0] is True
    tie, why = decide(0.5, 0.5, None, None)
    assert tie is False and "does not beat the live one" in why
    assert decide(0.4, 0.5, None, None)[0] is False
    # higher than the live model but losing to its baselines while the live one does not: refused
    loser = {"loses_to_baseline": True, "model": 0.6, "baseline": 0.7, "best_baseline": "ease", "metric": "m"}
    assert decide(0.6, 0.5, loser, {"loses_to_baseline": False, "model": 0.5})[0] is False


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.timeout(1800)
def test_scheduled_retraining_trains_on_new_data_and_deploys_only_a_better_model(
    app: Flask, project: LocalClientProject, signed_in: Callable[[str], tuple[FlaskClient, str]]
) -> None:
    load_into_warehouse(
        project.warehouse(),
        generate(WholesaleConfig(customers=60, products=150, days=40, orders_per_customer=8, seed=5)),
    )
    models = project.storage("models")
    # the live model: trained on a small share of the catalog (products covering 30% of revenue)
    _choose(app, 0.3)
    first = _scheduled(app)
    assert first.status == "succeeded", first.message
    assert live_version(models) == first.run_id  # nothing was live: deployed
    assert first.progress["comparison"]["reason"] == "no live model yet"

    # no new data since that run: skipped, with the reason on the page
    skipped = _scheduled(app)
    assert skipped.status == "skipped" and "no new data" in skipped.message
    client, _ = signed_in("viewer")
    page = client.get("/training/").get_data(as_text=True)
    assert "no new data since the last run" in page

    # a new week; the whole catalog: higher Recall@100 on the same test set → deployed
    _add_week_of_sales(project, "w1")
    _choose(app, 1.0)
    better = _scheduled(app)
    assert better.status == "succeeded", better.message
    comparison = better.progress["comparison"]
    assert comparison["deployed"] is True, comparison
    assert comparison["live_version"] == first.run_id and comparison["candidate"] > comparison["live"]
    assert live_version(models) == better.run_id

    # late sales (older than the newest): trained; its test period is the week the live model already
    # served from (its bundle knows those purchases), so the new model scores lower → not deployed
    _add_late_sales(project)
    worse = _scheduled(app)
    assert worse.status == "succeeded", worse.message
    comparison = worse.progress["comparison"]
    assert comparison["deployed"] is False and comparison["candidate"] < comparison["live"], comparison
    assert live_version(models) == better.run_id
    page = client.get(f"/training/{worse.id}").get_data(as_text=True)
    assert "Not deployed" in page and "does not beat the live one" in page
    # a person may still deploy it by hand
    set_live_version(models, str(worse.run_id), actor="member@example.com", reason="by hand")
