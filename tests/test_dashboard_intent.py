"""What a filter request names, and a filter's result checked against it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from optuna_llm._dashboard import query
from optuna_llm._dashboard.check import Listed
from optuna_llm._dashboard.check import check
from optuna_llm._dashboard.intent import FilterIntent
from optuna_llm._dashboard.intent import chart_problem
from optuna_llm._dashboard.intent import filter_intent
from optuna_llm._dashboard.intent import kept_problem
from optuna_llm._dashboard.intent import within_query
from optuna_llm._dashboard.studies import is_synthetic
from optuna_llm._dashboard.studies import study_details


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("top 5 trials by loss", 5),
        ("show the 3 lowest-loss trials", 3),
        ("the latest trial", 1),
        ("the most recent trial please", 1),
        ("the first ten trials", 10),
        ("the six best complete runs", 6),
        ("trials with a learning rate between 0.001 and 0.01", None),
        ("trials from number 20 on", None),
        ("the best trials", None),
    ],
)
def test_a_request_names_how_many_trials(query: str, count: int | None) -> None:
    assert filter_intent(query).count == count


@pytest.mark.parametrize(
    ("query", "states"),
    [
        ("pruned and failed ones", {"Pruned", "Fail"}),
        ("completed trials using adam", {"Complete"}),
        ("trials in progress", {"Running"}),
        ("trials that were not pruned", set()),
        ("trials that didn't fail", set()),
        ("everything except the failures", set()),
        ("trials with momentum above 0.9", set()),
    ],
)
def test_a_request_names_the_states_it_wants_unless_it_negates(
    query: str, states: set[str]
) -> None:
    assert filter_intent(query).states == states


def test_a_request_for_all_trials_is_told_apart() -> None:
    assert filter_intent("all complete trials").wants_all
    assert not filter_intent("complete trials with adam").wants_all


def _study(*kept: int, states: str = "CCCCPF") -> list[Listed]:
    names = {"C": "Complete", "P": "Pruned", "F": "Fail"}
    return [Listed(n, names[s], n in kept) for n, s in enumerate(states)]


def test_more_trials_than_asked_for_are_sent_back_with_how_to_rank() -> None:
    problem = kept_problem(FilterIntent(2, frozenset()), [_study(0, 1, 2, 3)])
    assert problem is not None
    assert "asks for 2 trials, but it keeps 4 of the study's 6" in problem
    assert "trial.rank <= 2" in problem and "slice(0, 2)" in problem
    assert kept_problem(FilterIntent(2, frozenset()), [_study(0, 3)]) is None


def test_fewer_trials_than_asked_for_are_sent_back_when_the_study_has_enough() -> None:
    problem = kept_problem(FilterIntent(2, frozenset()), [_study(1)])
    assert problem is not None and "asks for 2 trials, but it keeps 1" in problem
    # Fewer may be right when the study has fewer complete trials, or on the synthetic study.
    assert kept_problem(FilterIntent(2, frozenset()), [_study(0, states="CPF")]) is None
    assert kept_problem(FilterIntent(2, frozenset()), [_study(1)], own_trials=False) is None
    # Keeping none is another problem, named as such.
    assert "keeps no trial" in str(kept_problem(FilterIntent(2, frozenset()), [_study()]))


def test_trials_of_a_state_the_request_did_not_name_are_sent_back() -> None:
    complete = FilterIntent(None, frozenset({"Complete"}))
    problem = kept_problem(complete, [_study(0, 5)])
    assert problem is not None
    assert "'Fail' trials too (trial 5)" in problem and 'trial.state (one of "Complete"' in problem
    assert kept_problem(complete, [_study(0, 2)]) is None


def test_a_filter_that_keeps_everything_or_nothing_is_sent_back() -> None:
    anything = FilterIntent(None, frozenset())
    everything = kept_problem(anything, [_study(0, 1, 2, 3, 4, 5)])
    assert everything is not None and "filters nothing" in everything
    every = FilterIntent(None, frozenset(), wants_all=True)
    assert kept_problem(every, [_study(*range(6))]) is None
    nothing = kept_problem(anything, [_study()])
    assert nothing is not None and "keeps no trial of the 6" in nothing
    # Nothing is right when the request names a state no checked study has.
    running = FilterIntent(None, frozenset({"Running"}))
    assert kept_problem(running, [_study()]) is None
    # With several studies, one where the filter keeps some is enough.
    assert kept_problem(anything, [_study(), _study(2)]) is None
    # On the synthetic study, which is not the user's data, keeping nothing says nothing.
    assert kept_problem(anything, [_study()], own_trials=False) is None
    assert kept_problem(FilterIntent(1, frozenset()), [_study(0, 1)], own_trials=False)


def test_the_check_reports_what_a_filter_kept_on_each_study() -> None:
    details = study_details(None)
    assert is_synthetic(details[0])
    verdict = check("filter", 'function (t) { return t.state === "Fail"; }', details)
    (study,) = verdict.results
    assert [t.number for t in study if t.kept] == [4]
    assert {t.state for t in study} == {"Complete", "Pruned", "Fail", "Running", "Waiting"}


def _fields(names: list[str]) -> dict[str, query.Field]:
    fields = {
        n: query.Field(n, "param", key=n.removeprefix("params."), numeric=True) for n in names
    }
    fields["state"] = query.Field("state", "state", choices=query.STATES)
    fields["value"] = query.Field("value", "value", numeric=True)
    return fields


def test_a_query_says_in_its_own_selections_what_is_left_to_check() -> None:
    known = _fields(["params.x"])
    union = query.read_filter(
        json.dumps(
            {
                "select": [
                    {
                        "where": [{"field": "state", "op": "==", "value": "Pruned"}],
                        "take": "all",
                        "count": 0,
                    },
                    {"where": [], "take": "best", "count": 1},
                ]
            }
        ),
        known,
    )
    intent = filter_intent("pruned trials and the best trial")
    assert (intent.count, intent.states) == (1, frozenset({"Pruned"}))
    left = within_query(intent, union.selections)
    # "the best 1" is a selection of its own, and it keeps a complete trial by its words.
    assert (left.count, left.states) == (None, frozenset({"Pruned", "Complete"}))
    assert kept_problem(left, [_study(0, 4)]) is None
    # A selection of complete trials added to one that tests a parameter is no such union.
    added = query.read_filter(
        json.dumps(
            {
                "select": [
                    {
                        "where": [{"field": "params.x", "op": "<", "value": 5}],
                        "take": "all",
                        "count": 0,
                    },
                    {
                        "where": [{"field": "state", "op": "==", "value": "Complete"}],
                        "take": "all",
                        "count": 0,
                    },
                ]
            }
        ),
        known,
    )
    complete = within_query(filter_intent("complete trials with x below 5"), added.selections)
    assert complete.states == frozenset({"Complete"})
    problem = kept_problem(complete, [_study(0, 1, 5)], query=True)
    assert problem is not None and 'to the "where" of the selection that keeps them' in problem
    single = query.read_filter(
        json.dumps({"select": [{"where": [], "take": "all", "count": 0}]}), known
    )
    unchanged = within_query(filter_intent("the top 2 pruned trials"), single.selections)
    assert (unchanged.count, unchanged.states) == (2, frozenset({"Pruned"}))
    problem = kept_problem(unchanged, [_study(0, 1, 2)], query=True)
    assert problem is not None and '"take": "best", "worst", "first" or "last"' in problem
    assert 'and "count": 2' in problem and "trial.rank" not in problem


def _chart(where: list[dict[str, Any]], y: str = "none", kind: str = "histogram") -> Any:
    answer = {"type": kind, "x": "params.x", "y": y, "summary": "each", "series": "none"}
    return query.read_chart(json.dumps({**answer, "where": where}), _fields(["params.x"]))


def test_a_chart_query_for_the_trials_of_a_state_must_test_the_state() -> None:
    request = "Histogram of x over complete trials"
    problem = chart_problem(request, _chart([]))
    assert problem is not None and 'the request names "Complete" trials' in problem
    assert '{"field": "state", "op": "==", "value": "Complete"}' in problem
    complete = [{"field": "state", "op": "==", "value": "Complete"}]
    assert chart_problem(request, _chart(complete)) is None
    # Only complete trials have an objective value; a request that names no state is drawn
    # as asked; one that negates names none.
    scatter = _chart([], y="value", kind="scatter")
    assert chart_problem("Accuracy against x for complete trials", scatter) is None
    # A histogram draws x alone: a y it names keeps no trial out.
    assert chart_problem("Histogram of x for complete trials", _chart([], y="value"))
    counts = query.read_chart(
        json.dumps(
            {
                "type": "bar",
                "x": "params.x",
                "y": "value",
                "summary": "count",
                "series": "none",
                "where": [],
            }
        ),
        _fields(["params.x"]),
    )
    assert chart_problem("Count of complete trials per x", counts) is not None
    assert chart_problem("Histogram of x", _chart([])) is None
    assert chart_problem("Histogram of x for trials that did not fail", _chart([])) is None
    several = chart_problem("x of pruned and failed trials", _chart([]))
    assert several is not None and '"op": "in", "value": ["Fail", "Pruned"]' in several


def test_a_union_joined_by_the_request_keeps_its_stateless_group_of_any_state() -> None:
    pruned = {"field": "state", "op": "==", "value": "Pruned"}
    tenth = {"field": "params.x", "op": "==", "value": 10}
    selections = [{"where": [where], "take": "all", "count": 0} for where in (pruned, tenth)]
    union = query.read_filter(json.dumps({"select": selections}), _fields(["params.x"]))
    joined = filter_intent("pruned trials plus trials with x of 10")
    assert joined.joins and joined.states == frozenset({"Pruned"})
    assert within_query(joined, union.selections).states == frozenset()
    # The same selections for a request that joins nothing are still checked for its states.
    alone = filter_intent("pruned trials with x of 10")
    assert not alone.joins
    assert within_query(alone, union.selections).states == frozenset({"Pruned"})
    # "or more" bounds a number; "below 5 or above 35" joins two groups.
    assert not filter_intent("trials with 50 estimators or fewer").joins
    assert filter_intent("trials numbered below 5 or above 35").joins
