"""Whether a query says what its request names: each kind of disagreement the check reads is
sent back, and the query that says the request is not.

The queries are those a small model writes for such requests (the misses of the held-out sets
among them), read against a study's fields as ``query.py`` reads them. Then through the
dashboard's HTTP endpoints with a scripted model: a query that leaves a condition out is asked
again with the problem, and the fixed one reaches the dashboard.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from typing import Any

from dashboard_page import post
from optuna_dashboard.llm.prompt_templates._trial_filter import get_trial_filtering_prompt
import pytest

from optuna_llm._dashboard import query
from optuna_llm._dashboard import translate
from optuna_llm._dashboard.agreement import chart_disagreement
from optuna_llm._dashboard.agreement import filter_disagreement
from optuna_llm._dashboard.agreement import settled_chart
from optuna_llm._dashboard.agreement import settled_filter
from optuna_llm._dashboard.query import Field
from optuna_llm._dashboard.translate import query_of
from optuna_llm._dashboard.view import unwrap
from optuna_llm._dashboard.words import named_fields
from optuna_llm.dashboard import DashboardLLM
from optuna_llm.dashboard import DashboardServer
from optuna_llm.testing import ScriptedLLMServer


def _fields() -> dict[str, Field]:
    fields = [
        Field("number", "number", numeric=True),
        Field("state", "state", choices=query.STATES),
        Field("value", "value", numeric=True),
        Field("params.n_estimators", "param", key="n_estimators", numeric=True),
        Field("params.max_depth", "param", key="max_depth", numeric=True),
        Field("params.min_samples_leaf", "param", key="min_samples_leaf", numeric=True),
        Field("params.criterion", "param", "criterion", ("gini", "entropy", "log_loss")),
        Field("params.max_features", "param", "max_features", ("sqrt", "log2", None)),
        Field("params.bootstrap", "param", "bootstrap", (True, False)),
        # A choice that is also a word of requests ("the best trial") names nothing.
        Field("params.splitter", "param", "splitter", ("best", "random")),
        Field("user_attrs.llm:source", "user_attr", key="llm:source"),
        Field("intermediate_values.0", "step_value", key=0, numeric=True),
        Field(query.STEP, "step", numeric=True),
        Field(query.STEP_VALUE, "reported", numeric=True),
    ]
    return {f.name: f for f in fields}


KNOWN = _fields()


def _where(*conditions: tuple[str, str, Any]) -> list[dict[str, Any]]:
    return [{"field": f, "op": op, "value": v} for f, op, v in conditions]


def _select(*selections: tuple[list[dict[str, Any]], str, int]) -> str:
    return json.dumps({"select": [{"where": w, "take": t, "count": c} for w, t, c in selections]})


def _filter_problem(request: str, answer: str, direction: str | None = "maximize") -> str | None:
    kept = query.read_filter(answer, KNOWN)
    found = filter_disagreement(request, kept, KNOWN, direction=direction)
    return found.problem if found else None


def _chart(x: str, y: str = "value", summary: str = "each", **more: Any) -> str:
    return json.dumps(
        {"type": "scatter", "x": x, "y": y, "summary": summary, "series": "none", "where": []}
        | more
    )


def _chart_problem(request: str, answer: str) -> str | None:
    found = chart_disagreement(request, query.read_chart(answer, KNOWN), KNOWN)
    return found.problem if found else None


def _same_filter(a: query.FilterQuery, b: query.FilterQuery) -> bool:
    def canonical(q: query.FilterQuery) -> list[tuple[Any, ...]]:
        return sorted(
            (sorted(repr((c.field.name, c.op, c.value)) for c in s.where), s.take, s.count)
            for s in q.selections
        )

    return canonical(a) == canonical(b)


COMPLETE = ("state", "==", "Complete")

# A request, a query leaving part of it out or turning it around, what the problem says, and
# the query that says the request.
FILTERS: list[tuple[str, str, str, str]] = [
    (
        "the 2 best complete trials without bootstrap",
        _select((_where(COMPLETE), "best", 2)),
        'names "bootstrap", but no condition tests "params.bootstrap"',
        _select((_where(COMPLETE, ("params.bootstrap", "==", False)), "best", 2)),
    ),
    (
        "complete trials that used entropy",
        _select((_where(COMPLETE), "all", 0)),
        'names "entropy", but no condition tests "params.criterion"',
        _select((_where(COMPLETE, ("params.criterion", "==", "entropy")), "all", 0)),
    ),
    (
        "trials with more than 100 estimators",
        _select(([], "all", 0)),
        'names "estimators", but no condition tests "params.n_estimators"',
        _select((_where(("params.n_estimators", ">", 100)), "all", 0)),
    ),
    (
        'trials with "llm:source" of "llm"',
        _select(([], "all", 0)),
        'no condition tests "user_attrs.llm:source"',
        _select((_where(("user_attrs.llm:source", "==", "llm")), "all", 0)),
    ),
    (
        "min_samples_leaf of 1 or 2, with sqrt max_features",
        _select((_where(("min_samples_leaf", "==", 1), ("max_features", "==", "sqrt")), "all", 0)),
        'the request names 2 ("of 1 or 2, with sqrt")',
        _select(
            (_where(("min_samples_leaf", "in", [1, 2]), ("max_features", "==", "sqrt")), "all", 0)
        ),
    ),
    (
        "the single best trial with max_depth below 12",
        _select((_where(("params.max_depth", "<=", 12)), "best", 1)),
        'says "below 12", which is "<" 12, but the query tests "params.max_depth" "<=" 12',
        _select((_where(("params.max_depth", "<", 12)), "best", 1)),
    ),
    (
        "complete trials with min_samples_leaf of 5 or more",
        _select((_where(COMPLETE, ("min_samples_leaf", ">", 5)), "all", 0)),
        'says "5 or more", which is ">=" 5',
        _select((_where(COMPLETE, ("min_samples_leaf", ">=", 5)), "all", 0)),
    ),
    (
        "the 4 lowest-accuracy trials",
        _select(([], "best", 4)),
        'asks for the "lowest" trials, and the study maximizes, so those are its worst trials',
        _select(([], "worst", 4)),
    ),
    (
        "the 2 most recent trials",
        _select(([], "first", 2)),
        'asks for the "most recent" trials: use "take": "last"',
        _select(([], "last", 2)),
    ),
    (
        "complete trials using log_loss",
        _select((_where(COMPLETE), "all", 0), (_where(("criterion", "==", "log_loss")), "all", 0)),
        "the query has 2 selections, and a trial in any one of them is kept",
        _select((_where(COMPLETE, ("criterion", "==", "log_loss")), "all", 0)),
    ),
    (
        "failed trials or trials with accuracy above 0.92",
        _select((_where(("state", "==", "Fail"), ("value", ">", 0.92)), "all", 0)),
        'a selection of "Fail" trials that tests or ranks the value keeps no trial',
        _select(
            (_where(("state", "==", "Fail")), "all", 0), (_where(("value", ">", 0.92)), "all", 0)
        ),
    ),
    (
        "trials using sqrt or log2",
        _select((_where(("max_features", "in", ["log2", None, "sqrt"])), "all", 0)),
        'the condition on "params.max_features" lists every choice it has ("sqrt", "log2", None)',
        _select((_where(("max_features", "in", ["log2", "sqrt"])), "all", 0)),
    ),
    (
        "failed trials, together with complete trials with accuracy above 0.9",
        _select(
            (_where(("state", "==", "Fail")), "all", 0), (_where(("value", ">", 0.9)), "best", 3)
        ),
        "names no number of trials, but a selection keeps the best 3: for every trial that meets "
        'its conditions, use "take": "all"',
        _select(
            (_where(("state", "==", "Fail")), "all", 0), (_where(("value", ">", 0.9)), "all", 0)
        ),
    ),
    (
        "the 3 best trials with max_depth over 15",
        _select((_where(("max_depth", ">", 15)), "best", 5)),
        'names 3 trials, but a selection keeps the best 5: use "count": 3',
        _select((_where(("max_depth", ">", 15)), "best", 3)),
    ),
    (
        "failed trials, and complete trials with fewer than 45 estimators",
        _select(
            (_where(("state", "==", "Fail")), "all", 0),
            (_where(("n_estimators", "<", 45)), "all", 0),
        ),
        'the request names "Complete" trials, but no selection keeps only those: add '
        '{"field": "state", "op": "==", "value": "Complete"}',
        _select(
            (_where(("state", "==", "Fail")), "all", 0),
            (_where(("n_estimators", "<", 45), COMPLETE), "all", 0),
        ),
    ),
    (
        "complete trials that used 50 estimators or fewer",
        _select((_where(COMPLETE), "all", 0), (_where(("n_estimators", "<=", 50)), "all", 0)),
        "the query has 2 selections",
        _select((_where(COMPLETE, ("n_estimators", "<=", 50)), "all", 0)),
    ),
]


@pytest.mark.parametrize(("request_text", "wrong", "problem", "right"), FILTERS)
def test_a_filter_query_that_leaves_out_or_turns_around_its_request_is_named(
    request_text: str, wrong: str, problem: str, right: str
) -> None:
    said = _filter_problem(request_text, wrong)
    assert said is not None and problem in said
    assert _filter_problem(request_text, right) is None


# The requests of FILTERS whose words do not say the fix plainly: sent back to the model.
UNFIXED = {'trials with "llm:source" of "llm"', "trials using sqrt or log2"}


@pytest.mark.parametrize(("request_text", "wrong", "problem", "right"), FILTERS)
def test_where_the_words_say_the_fix_optuna_llm_makes_it(
    request_text: str, wrong: str, problem: str, right: str
) -> None:
    settled = settled_filter(
        request_text, query.read_filter(wrong, KNOWN), KNOWN, direction="maximize"
    )
    if request_text in UNFIXED:
        assert settled.fixes == () and settled.problem is not None and problem in settled.problem
        return
    assert settled.problem is None and len(settled.fixes) >= 1
    assert _same_filter(settled.query, query.read_filter(right, KNOWN))
    # The query the function is written from is the fixed one, and the fixes are said under it.
    function = translate.filter_function(settled.query, settled.fixes)
    shown = translate.query_of(function)
    assert shown is not None and _same_filter(query.read_filter(shown, KNOWN), settled.query)
    assert all(f"// {translate.FIX_MARK}{fix}" in function for fix in settled.fixes)


@pytest.mark.parametrize(
    ("request_text", "answer"),
    [
        # Whole numbers: "10 to 19" is ">= 10" and "< 20".
        (
            "trials 10 to 19",
            _select((_where(("number", ">=", 10), ("number", "<", 20)), "all", 0)),
        ),
        # "below 5 or above 35" bounds 5 from below and 35 from above.
        (
            "trials numbered below 5 or above 35",
            _select(
                (_where(("number", "<", 5)), "all", 0), (_where(("number", ">", 35)), "all", 0)
            ),
        ),
        ("trials with accuracy above 90%", _select((_where(("value", ">", 0.9)), "all", 0))),
        ("trials from number 30 on", _select((_where(("number", ">=", 30)), "all", 0))),
        # Words that add trials make a union of selections what the request asks for.
        (
            "pruned trials and the best trial",
            _select((_where(("state", "==", "Pruned")), "all", 0), ([], "best", 1)),
        ),
        (
            "failed trials, and complete trials with fewer than 45 estimators",
            _select(
                (_where(("state", "==", "Fail")), "all", 0),
                (_where(COMPLETE, ("n_estimators", "<", 45)), "all", 0),
            ),
        ),
        (
            "the 3 best trials and the worst trial",
            _select(([], "best", 3), ([], "worst", 1)),
        ),
        # The step named in the field is the number the request names.
        (
            "trials whose accuracy at step 0 was below 0.85",
            _select((_where(("intermediate_values.0", "<", 0.85)), "all", 0)),
        ),
        # A choice that is a request's own word ("best") names no parameter.
        ("the best trial", _select(([], "best", 1))),
    ],
)
def test_a_filter_query_that_says_its_request_is_not_sent_back(
    request_text: str, answer: str
) -> None:
    assert _filter_problem(request_text, answer) is None


def test_highest_and_lowest_follow_the_studys_direction() -> None:
    lowest = _select(([], "best", 4))
    assert _filter_problem("the 4 lowest-loss trials", lowest, direction="minimize") is None
    assert _filter_problem("the 4 lowest-loss trials", lowest, direction="maximize") is not None
    # Unknown (several objectives, or studies that disagree): not checked.
    assert _filter_problem("the 4 lowest-loss trials", lowest, direction=None) is None
    highest = _select(([], "worst", 2))
    said = _filter_problem("the 2 highest-accuracy trials", highest, direction="maximize")
    assert said is not None and '"take": "best"' in said


def test_a_parameter_is_named_by_its_name_its_spellings_or_a_choice_only_it_has() -> None:
    def named(request: str) -> list[str]:
        return [f.name for f, _ in named_fields(request, KNOWN)]

    assert named("max depth above 3 with gini") == ["params.max_depth", "params.criterion"]
    assert named("trials with 50 estimators") == ["params.n_estimators"]
    assert named("non-bootstrap trials") == ["params.bootstrap"]
    assert named("the best trial") == []
    assert named("trials with the random splitter") == ["params.splitter"]
    assert named("trials with log2_extra") == []


@pytest.mark.parametrize(
    ("request_text", "wrong", "problem", "right"),
    [
        (
            "Scatter of n_estimators against max_depth",
            _chart("params.n_estimators"),
            'names "max_depth", but the chart neither draws "params.max_depth"',
            _chart("params.n_estimators", "params.max_depth"),
        ),
        (
            "Box plot of n_estimators for each criterion",
            _chart("params.criterion", "number", type="box"),
            'names "n_estimators"',
            _chart("params.criterion", "params.n_estimators", type="box"),
        ),
        (
            "Scatter of accuracy against min_samples_leaf for gini trials",
            _chart("params.min_samples_leaf"),
            'names "gini", but the chart neither draws "params.criterion"',
            _chart("params.min_samples_leaf", where=_where(("params.criterion", "==", "gini"))),
        ),
        (
            "Accuracy at each reported step for the pruned trials",
            _chart(query.STEP),
            f'Draw "step" against "{query.STEP_VALUE}"',
            _chart(query.STEP, query.STEP_VALUE),
        ),
        (
            # Counts draw no y: the named field must be drawn where it is drawn.
            "Count of trials per max_depth",
            _chart("number", "params.max_depth", "count", type="bar"),
            'names "max_depth"',
            _chart("params.max_depth", "value", "count", type="bar"),
        ),
    ],
)
def test_a_chart_query_that_leaves_out_what_its_request_names_is_named(
    request_text: str, wrong: str, problem: str, right: str
) -> None:
    said = _chart_problem(request_text, wrong)
    assert said is not None and problem in said
    assert _chart_problem(request_text, right) is None
    settled = settled_chart(request_text, query.read_chart(wrong, KNOWN), KNOWN)
    if settled.fixes:
        assert settled.problem is None
        assert _chart_problem(request_text, json.dumps(json.loads(settled.query.text))) is None


# ---- through the dashboard's HTTP endpoints, with a scripted model ----


@pytest.fixture
def answers(demo_storage: str) -> Iterator[tuple[ScriptedLLMServer, str, list[str]]]:
    script: list[str] = []
    with ScriptedLLMServer(lambda call: script.pop(0)) as server:
        provider = DashboardLLM(server.client(), server.model, storage=demo_storage)
        with DashboardServer(demo_storage, provider, port=0) as dash:
            yield server, dash.url.removesuffix("dashboard/"), script


def test_a_query_the_request_fixes_reaches_the_dashboard_fixed_without_asking_again(
    answers: tuple[ScriptedLLMServer, str, list[str]],
) -> None:
    server, root, script = answers
    split = _select(
        (_where(("state", "==", "Complete")), "all", 0),
        (_where(("params.booster", "==", "dart")), "all", 0),
    )
    joined = _select(
        (_where(("state", "==", "Complete"), ("params.booster", "==", "dart")), "all", 0)
    )
    script[:] = [split]
    answer = post(root, "trial_filter_query", {"user_query": "complete trials using dart"})
    code = unwrap(answer["trial_filtering_func_str"])
    shown = query_of(code or "")
    assert shown is not None and json.loads(shown) == json.loads(joined)
    assert code is not None and f"// {translate.FIX_MARK}joined the selections into one" in code
    assert len(server.requests) == 1


def test_a_query_whose_fix_the_words_do_not_say_is_asked_again_with_the_problem(
    answers: tuple[ScriptedLLMServer, str, list[str]],
) -> None:
    server, root, script = answers
    every = _select((_where(("params.booster", "in", ["gbtree", "dart", "gblinear"])), "all", 0))
    two = _select((_where(("params.booster", "in", ["gbtree", "dart"])), "all", 0))
    script[:] = [every, two]
    answer = post(root, "trial_filter_query", {"user_query": "trials using dart or gbtree"})
    shown = query_of(unwrap(answer["trial_filtering_func_str"]) or "")
    assert shown is not None and json.loads(shown) == json.loads(two)
    _, second = server.requests
    assert second.schema is not None
    assert 'the condition on "params.booster" lists every choice it has' in second.prompt


def test_the_provider_records_the_fixes_it_made(demo_storage: str) -> None:
    untested = _select((_where(("state", "==", "Complete")), "best", 2))
    with ScriptedLLMServer([untested]) as server:
        provider = DashboardLLM(server.client(), server.model, storage=demo_storage)
        provider.call(get_trial_filtering_prompt("the 2 best complete gbtree trials"))
        assert len(server.requests) == 1
    (attempt,) = provider.attempts
    assert attempt.problem is None
    assert attempt.fixes == (
        'added {"field": "params.booster", "op": "==", "value": "gbtree"}, '
        "which the request names",
    )
    assert '"params.booster"' in attempt.answer


@pytest.mark.parametrize(
    ("request_text", "answer", "proposal"),
    [
        (
            "complete trials with entropy and no bootstrap",
            _select((_where(COMPLETE, ("criterion", "==", "entropy")), "all", 0)),
            '{"field": "params.bootstrap", "op": "==", "value": false}',
        ),
        (
            "trials that did not use sqrt",
            _select(([], "all", 0)),
            '{"field": "params.max_features", "op": "!=", "value": "sqrt"}',
        ),
        (
            "the 2 worst trials with more than 100 estimators",
            _select(([], "worst", 2)),
            '{"field": "params.n_estimators", "op": ">", "value": 100}',
        ),
        (
            "trials with 100 or more estimators",
            _select(([], "all", 0)),
            '{"field": "params.n_estimators", "op": ">=", "value": 100}',
        ),
        (
            "trials with max_depth between 5 and 15",
            _select(([], "all", 0)),
            '{"field": "params.max_depth", "op": "between", "value": [5, 15]}',
        ),
        (
            "trials with max_depth of 2 or 3",
            _select(([], "all", 0)),
            '{"field": "params.max_depth", "op": "in", "value": [2, 3]}',
        ),
        (
            "min_samples_leaf of 1 or 2",
            _select((_where(("min_samples_leaf", "==", 1)), "all", 0)),
            '{"field": "params.min_samples_leaf", "op": "in", "value": [1, 2]}',
        ),
        (
            "complete trials using log_loss",
            _select(
                (_where(COMPLETE), "all", 0), (_where(("criterion", "==", "log_loss")), "all", 0)
            ),
            '{"select": [{"where": [{"field": "state", "op": "==", "value": "Complete"}, '
            '{"field": "params.criterion", "op": "==", "value": "log_loss"}], "take": "all", '
            '"count": 0}]}',
        ),
        (
            "failed trials or trials with accuracy above 0.92",
            _select((_where(("state", "==", "Fail"), ("value", ">", 0.92)), "all", 0)),
            '{"select": [{"where": [{"field": "state", "op": "==", "value": "Fail"}], "take": '
            '"all", "count": 0}, {"where": [{"field": "value", "op": ">", "value": 0.92}], '
            '"take": "all", "count": 0}]}',
        ),
    ],
)
def test_the_problem_proposes_the_condition_or_query_the_request_says(
    request_text: str, answer: str, proposal: str
) -> None:
    said = _filter_problem(request_text, answer)
    assert said is not None and proposal in said
    # What it proposes is a query that says the request.
    if proposal.startswith('{"select"'):
        assert _filter_problem(request_text, proposal) is None


@pytest.mark.parametrize(
    ("request_text", "answer", "proposal"),
    [
        (
            "Scatter of n_estimators against max_depth",
            _chart("params.n_estimators"),
            '"y": "params.max_depth"',
        ),
        ("Scatter of accuracy against max_depth", _chart("number"), '"x": "params.max_depth"'),
        (
            "Accuracy by trial number, one trace per bootstrap value",
            _chart("number"),
            '"series": "params.bootstrap"',
        ),
        (
            "Histogram of n_estimators for gini trials",
            _chart("params.n_estimators", type="histogram"),
            '{"field": "params.criterion", "op": "==", "value": "gini"}',
        ),
    ],
)
def test_a_chart_problem_proposes_where_the_named_field_goes(
    request_text: str, answer: str, proposal: str
) -> None:
    said = _chart_problem(request_text, answer)
    assert said is not None and proposal in said
