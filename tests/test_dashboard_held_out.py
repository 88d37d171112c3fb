"""The held-out dashboard requests: their study and their judges, without a browser or model."""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from benchmarks import dashboard_held_out as held_out


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> Sequence[FrozenTrial]:
    storage = f"sqlite:///{tmp_path_factory.mktemp('held-out')}/study.db"
    return held_out.build_study(storage).get_trials(deepcopy=False)


def test_the_study_holds_every_state_a_user_meets_and_no_tied_values(
    trials: Sequence[FrozenTrial],
) -> None:
    states = {t.state for t in trials}
    assert states == {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING}
    values = [t.value for t in trials if t.state == TrialState.COMPLETE]
    assert len(values) == len(set(values)) == 36
    assert {t.user_attrs.get("llm:source") for t in trials} >= {"llm", "fallback"}
    assert all(len(t.params) == 6 for t in trials)


def test_there_are_20_filters_each_naming_some_trials_but_not_all(
    trials: Sequence[FrozenTrial],
) -> None:
    assert len(held_out.FILTERS) == 20
    assert len({f.text for f in held_out.FILTERS}) == 20
    for request in held_out.FILTERS:
        chosen = request.expected(trials)
        assert 0 < len(chosen) < len(trials), request.text
    by_text = {f.text: f.expected(trials) for f in held_out.FILTERS}
    assert len(by_text["the top 3 complete trials"]) == 3
    assert by_text["trials that are still running"] == [40]


def test_each_chart_judge_accepts_its_data_and_rejects_other_data(
    trials: Sequence[FrozenTrial],
) -> None:
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(held_out.CHARTS) == 10
    scatter = held_out.CHARTS[1]
    right = [
        {
            "type": "scatter",
            "x": [t.params["max_depth"] for t in complete],
            "y": [t.value for t in complete],
        }
    ]
    assert scatter.shows(right, trials)
    assert not scatter.shows([{"type": "scatter", "x": right[0]["x"], "y": right[0]["x"]}], trials)
    boxes = held_out.CHARTS[0]
    per_criterion = [
        {
            "type": "box",
            "name": criterion,
            "y": [t.value for t in complete if t.params["criterion"] == criterion],
        }
        for criterion in ("gini", "entropy", "log_loss")
    ]
    assert boxes.shows(per_criterion, trials)
    assert not boxes.shows(per_criterion[:2], trials)
    states = held_out.CHARTS[2]
    assert states.shows(
        [{"type": "bar", "x": ["Complete", "Pruned", "Fail", "Running"], "y": [36, 2, 2, 1]}],
        trials,
    )
    assert not states.shows([{"type": "bar", "x": ["Complete"], "y": [36]}], trials)
    pie = held_out.CHARTS[4]
    counts = {
        c: sum(t.params["max_features"] == c for t in trials) for c in ("sqrt", "log2", None)
    }
    labels = ["sqrt", "log2", "None"]
    assert pie.shows([{"type": "pie", "labels": labels, "values": list(counts.values())}], trials)
    for chart in held_out.CHARTS:
        assert not chart.shows([], trials), chart.text
