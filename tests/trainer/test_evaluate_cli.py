"""``b2brec evaluate`` on a real local client project: extract from its DuckDB warehouse, train on
the days before the cutoff, print the model and every baseline on the test period."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from b2brec.context import client_context
from b2brec.errors import B2BRecError
from b2brec.progress import ProgressEvent
from b2brec.projects.local import LocalClientProject
from b2brec.settings import Settings
from cli.main import app

pytestmark = [
    pytest.mark.slow,
    # the extractor's DuckDB -> Arrow read (trainer/extractor) warns about an extra copy; the CLI runs it in-process
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
]
runner = CliRunner()


def _env(settings: Settings) -> dict[str, str]:
    # a wide terminal, so rich does not abbreviate the method names
    return {
        "B2BREC_HOME": str(settings.home),
        "B2BREC_ENVIRONMENTS_DIR": str(settings.environments_dir),
        "COLUMNS": "200",
    }


def test_evaluate_prints_model_and_every_baseline(
    settings: Settings, project: LocalClientProject, tmp_path: Path
) -> None:
    # the tiny warehouse holds sales from 2026-05-21 to 2026-06-30; test on the last 10 days
    out = tmp_path / "evaluation.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--client",
            project.spec.project_id,
            "--cutoff",
            "2026-06-20",
            "--test-days",
            "10",
            "--no-two-tower",
            "--output",
            str(out),
        ],
        env=_env(settings),
    )
    assert result.exit_code == 0, result.output
    for name in ("b2brec (served model)", "most_popular", "own_history", "ease", "als", "own_history+ease"):
        assert name in result.output
    assert "before 2026-06-20" in result.output
    saved = json.loads(out.read_text())
    assert saved["cutoff"] == "2026-06-20" and saved["test_days"] == 10
    assert saved["info"]["customers"] > 0
    assert set(saved["quality"]) >= {"loses_to_baseline", "best_baseline", "model", "baseline"}
    assert set(saved["rows"]) == {
        "b2brec (served model)",
        "most_popular",
        "own_history",
        "ease",
        "als",
        "own_history+ease",
    }
    assert "best baseline" in result.output
    model = saved["rows"]["b2brec (served model)"]
    assert 0.0 < model["all/recall@100"] <= 1.0


def test_the_backtest_is_a_service_with_events_and_a_typed_result(
    settings: Settings, project: LocalClientProject
) -> None:
    from trainer.backtest import run_backtest
    from trainer.experiment import MODEL

    events: list[ProgressEvent] = []
    ctx = client_context(project.spec.project_id, settings)
    result = run_backtest(ctx, date(2026, 6, 20), test_days=10, two_tower=False, on_event=events.append)
    assert (result.cutoff, result.test_days, result.end) == (date(2026, 6, 20), 10, date(2026, 6, 30))
    assert {MODEL, "most_popular", "ease", "als"} <= set(result.comparison.rows)
    assert 0.0 < result.comparison.rows[MODEL]["all/recall@100"] <= 1.0
    assert json.loads(json.dumps(result.to_dict()))["rows"].keys() == result.comparison.rows.keys()
    kinds = [(e.stage, e.kind) for e in events]
    assert kinds[:3] == [("extract", "start"), ("extract", "done"), ("compare", "start")]
    assert kinds[-1] == ("compare", "done") and ("compare", "advance") in kinds
    advances = [e.done for e in events if e.kind == "advance"]
    assert advances == list(range(1, len(advances) + 1))
    # a test period after the data: refused with a code, not a traceback
    with pytest.raises(B2BRecError, match="no transactions in the test period") as failure:
        run_backtest(ctx, date(2027, 1, 1), two_tower=False)
    assert failure.value.http_status == 422


def test_evaluate_rejects_a_bad_cutoff(settings: Settings, project: LocalClientProject) -> None:
    result = runner.invoke(
        app, ["evaluate", "--client", project.spec.project_id, "--cutoff", "June 20"], env=_env(settings)
    )
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_evaluate_says_when_the_test_period_is_empty(settings: Settings, project: LocalClientProject) -> None:
    result = runner.invoke(
        app,
        ["evaluate", "--client", project.spec.project_id, "--cutoff", "2027-01-01", "--no-two-tower"],
        env=_env(settings),
    )
    assert result.exit_code == 2
    assert "no transactions in the test period 2027-01-01" in result.output and "earlier --cutoff" in result.output
