"""Training choices the client app reads from the ClientSpec (monthly quota, approval threshold) and
from the Features page (features used, window, time decay, revenue coverage), which the next run's
pipeline options carry; hostile input on the Features form is refused and saves nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from b2brec.projects.local import LocalClientProject, update_spec
from b2brec.settings import Settings
from b2brec.spec import PipelineDefaults, TrainingSettings
from client_app import create_app
from client_app.config import AppConfig
from client_app.models import Job, get_preference
from tests.client_app.conftest import PASSWORD, dispose, sign_in
from tests.security.corpus import HOSTILE_HOSTS, SECRET_LIKE
from trainer.run_context import stage_args

SignedIn = Callable[[str], tuple[FlaskClient, str]]
FORM = {"window_days": "30", "revenue_coverage": "0.8", "half_life_days": "45"}


@pytest.fixture
def limited(project: LocalClientProject, app_config: AppConfig, settings: Settings) -> Iterator[Flask]:
    """The app of a client whose spec allows one run a month and approval above $0.001."""
    training = TrainingSettings(quota_per_month=1, approval_threshold_usd=0.001)
    update_spec(project, project.spec.model_copy(update={"training": training}))
    app = create_app(app_config, settings)
    with app.app_context():
        from client_app.auth.services import create_user

        for role in ("admin", "member"):
            create_user(f"{role}@example.com", role, role, PASSWORD)
    yield app
    dispose(app)


def test_quota_and_approval_threshold_come_from_the_spec(limited: Flask) -> None:
    member = limited.test_client()
    token = sign_in(member, "member@example.com")
    form = {"epochs": "1", "window_days": "30", "test_days": "7", "csrf_token": token}
    page = member.get("/training/").get_data(as_text=True)
    assert "Runs this month: 0 of 1." in page
    first = member.post("/training/", data=form, follow_redirects=True).get_data(as_text=True)
    assert "waits for an admin&#39;s approval" in first  # estimate above the spec's $0.001
    with limited.app_context():
        from client_app.extensions import db

        job = db.session.scalars(db.select(Job)).one()
        assert job.status == "awaiting_approval"
    second = member.post("/training/", data=form, follow_redirects=True).get_data(as_text=True)
    assert "the monthly training quota is reached (1 of 1 runs this month)" in second
    assert "training.quota_per_month" in second  # the fix names the spec field
    with limited.app_context():
        assert db.session.query(Job).count() == 1


def test_what_a_choice_keeps_defaults_to_the_spec(app: Flask, signed_in: SignedIn) -> None:
    client, _ = signed_in("viewer")

    def kept(query: str = "") -> dict[str, int]:
        response = client.get(f"/features/api/kept{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return dict(response.get_json()["data"])

    # the demo spec keeps the pipeline defaults: a 730-day window and the whole catalog
    defaults = PipelineDefaults()
    spec_choice = kept(f"?window_days={defaults.window_days}&revenue_coverage={defaults.revenue_coverage}")
    assert kept() == spec_choice
    assert kept("?window_days=90&revenue_coverage=0.8")["products"] < spec_choice["products"]


def test_feature_choices_are_saved_and_the_next_run_uses_them(app: Flask, signed_in: SignedIn) -> None:
    client, token = signed_in("member")
    page = client.get("/features/").get_data(as_text=True)
    for feature in ("city", "art_name", "category", "subcategory"):
        assert f'name="features" value="{feature}"' in page  # the demo mapping provides all four
    # preview: what the choice keeps, nothing saved
    preview = client.post("/features/preview", data={**FORM, "features": ["city"], "csrf_token": token})
    assert preview.status_code == 200 and "(not saved yet)" in preview.get_data(as_text=True)
    with app.app_context():
        assert get_preference("feature_choices") is None
    saved = client.post(
        "/features/", data={**FORM, "features": ["city", "category"], "csrf_token": token}, follow_redirects=True
    )
    assert "the next training run uses these choices" in saved.get_data(as_text=True)
    with app.app_context():
        from client_app.training import services

        assert get_preference("feature_choices") == {
            "window_days": 30,
            "revenue_coverage": 0.8,
            "half_life_days": 45.0,
            "exclude_features": ["art_name", "subcategory"],
        }
        options = services.parse_options({})
        assert options.exclude_features == ("art_name", "subcategory") and options.half_life_days == 45.0
        args = stage_args("extract", services._context(), "20261130-000000-abcd", options)
        assert args[args.index("--exclude-features") + 1] == "art_name,subcategory"
        assert args[args.index("--revenue-coverage") + 1] == "0.8"
        assert "--half-life-days" in stage_args("train", _no_mlflow(services._context()), "r1", options)


def _no_mlflow(ctx: object) -> object:
    import dataclasses

    return dataclasses.replace(ctx, mlflow_uri="http://127.0.0.1:9")  # type: ignore[type-var]


RANGES = {"window_days": (7, 3650), "revenue_coverage": (0.05, 1.0), "half_life_days": (1, 3650)}


def _valid(field: str, value: str) -> bool:
    try:
        number = float(value) if field != "window_days" else int(value)
    except ValueError:
        return False
    low, high = RANGES.get(field, (1, 0))
    return low <= number <= high


@pytest.mark.parametrize(
    "field",
    ["window_days", "revenue_coverage", "half_life_days", "features"],
)
def test_hostile_input_on_the_features_form_saves_nothing(app: Flask, signed_in: SignedIn, field: str) -> None:
    client, token = signed_in("member")
    corpus = HOSTILE_HOSTS if field == "features" else HOSTILE_HOSTS[::4]  # numbers: a sample is enough
    hostile = [*corpus, *SECRET_LIKE, "-1", "0", "1e309", "nan", "x" * 5000, "customer_id", "' OR 1=1 --"]
    for i, value in enumerate(hostile):
        if _valid(field, value):  # e.g. "127.1" is a fine half-life in days
            continue
        form: dict[str, object] = {**FORM, "features": ["city"], "csrf_token": token, field: value}
        for path in ("/features/", "/features/preview") if i % 5 == 0 else ("/features/",):
            response = client.post(path, data=form)
            page = response.get_data(as_text=True)
            assert response.status_code == 400, (field, value, path)
            assert "how to fix" in page, (field, value)
            if field == "features" and value in SECRET_LIKE:
                assert value not in page
    with app.app_context():
        assert get_preference("feature_choices") is None


def test_the_retrain_schedule_is_set_on_the_training_page_and_reaches_the_beat_entries(
    app: Flask, project: LocalClientProject, signed_in: SignedIn
) -> None:
    from b2brec.backends.schedules import BeatSchedules, Schedule

    beat = BeatSchedules(project.db_dir / "schedules.json")
    client, token = signed_in("member")
    assert "Off." in client.get("/training/").get_data(as_text=True)  # the demo spec has no retrain schedule
    page = client.post(
        "/training/schedule", data={"retrain_schedule": "0 3 * * 1", "csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "scheduled retraining on: 0 3 * * 1 (UTC)" in page
    assert page.count("Mon 20") >= 5  # the next five checks, all Mondays
    assert beat.get("retrain") == Schedule(name="retrain", cron="0 3 * * 1")
    for hostile in ("* * *", "0 3 * * 1; rm -rf /", "61 * * * *", *SECRET_LIKE):
        page = client.post(
            "/training/schedule", data={"retrain_schedule": hostile, "csrf_token": token}, follow_redirects=True
        ).get_data(as_text=True)
        assert "is not a 5-field cron expression" in page and "how to fix" in page, hostile
    assert beat.get("retrain") == Schedule(name="retrain", cron="0 3 * * 1")  # unchanged
    client.post("/training/schedule", data={"retrain_schedule": "", "csrf_token": token})
    assert beat.get("retrain") == Schedule(name="retrain", cron="0 3 * * 1", enabled=False)
    viewer, viewer_token = signed_in("viewer")
    assert (
        viewer.post(
            "/training/schedule", data={"retrain_schedule": "0 1 * * *", "csrf_token": viewer_token}
        ).status_code
        == 403
    )
    for secret in SECRET_LIKE:
        page = client.post(
            "/training/schedule", data={"retrain_schedule": secret, "csrf_token": token}, follow_redirects=True
        ).get_data(as_text=True)
        assert secret not in page
