"""Queries in place of code: the model fills in a query, and optuna-llm writes the function.

Each query is read against a storage's own study (every categorical type, user attributes,
intermediate values, pruned and failed trials, both directions), written out as a function,
and run as the dashboard's page runs it, in V8; what it keeps or draws is compared with the
same selection made in Python on the study's trials. Then the provider asks for queries
through the dashboard's HTTP endpoints, with a scripted model: the request carries the schema,
a query that cannot be used or keeps the wrong trials is asked again with its problem, the last
answer is asked for as code, and an endpoint that answers with code is taken at its word.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import json
import statistics
from typing import Any

from dashboard_page import PAGE
from dashboard_page import chart_on_page
from dashboard_page import directions
from dashboard_page import every_kind_study
from dashboard_page import filter_on_page
from dashboard_page import post
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
from optuna_dashboard.llm.prompt_templates._generate_plotly_graph import (
    get_generate_plotly_graph_prompt,
)
from optuna_dashboard.llm.prompt_templates._generate_plotly_graph import (
    get_re_generate_plotly_graph_prompt,
)
from optuna_dashboard.llm.prompt_templates._trial_filter import get_trial_filtering_prompt
import pytest

from optuna_llm._dashboard import prompts
from optuna_llm._dashboard import query
from optuna_llm._dashboard import translate
from optuna_llm._dashboard.check import check
from optuna_llm._dashboard.studies import study_details
from optuna_llm._dashboard.view import unwrap
from optuna_llm.dashboard import DashboardLLM
from optuna_llm.dashboard import DashboardServer
from optuna_llm.testing import ChatCall
from optuna_llm.testing import ScriptedLLMServer


py_mini_racer = pytest.importorskip("py_mini_racer")

COMPLETE = TrialState.COMPLETE


@pytest.fixture(scope="module", params=["maximize", "minimize"])
def studied(request: pytest.FixtureRequest) -> tuple[optuna.Study, list[dict[str, Any]]]:
    return every_kind_study(request.param)


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    context = py_mini_racer.MiniRacer()
    context.eval(PAGE)
    yield context


def _ranked(study: optuna.Study, trials: list[FrozenTrial], best: bool) -> list[FrozenTrial]:
    maximize = study.direction.name == "MAXIMIZE"
    complete = [t for t in trials if t.state == COMPLETE]
    return sorted(complete, key=lambda t: float(t.values[0]), reverse=maximize == best)


def _where(*conditions: tuple[str, str, Any]) -> list[dict[str, Any]]:
    return [{"field": f, "op": op, "value": v} for f, op, v in conditions]


def _select(*selections: tuple[list[dict[str, Any]], str, int]) -> str:
    return json.dumps({"select": [{"where": w, "take": t, "count": c} for w, t, c in selections]})


Chooser = Callable[[optuna.Study], set[int]]


def _each(keep: Callable[[FrozenTrial], bool]) -> Chooser:
    return lambda study: {t.number for t in study.trials if keep(t)}


FILTERS: list[tuple[str, Chooser]] = [
    (
        _select((_where(("state", "==", "complete")), "all", 0)),
        _each(lambda t: t.state == COMPLETE),
    ),
    (
        _select((_where(("state", "in", ["pruned", "Fail"])), "all", 0)),
        _each(lambda t: t.state in (TrialState.PRUNED, TrialState.FAIL)),
    ),
    (
        _select((_where(("params.kind", "==", "None")), "all", 0)),
        _each(lambda t: t.params["kind"] is None),
    ),
    (
        _select((_where(("params.kind", "==", "true")), "all", 0)),
        _each(lambda t: t.params["kind"] is True),
    ),
    (
        _select((_where(("params.kind", "==", 3)), "all", 0)),
        _each(lambda t: t.params["kind"] == 3 and t.params["kind"] is not True),
    ),
    (
        _select((_where(("params.kind", "not in", ["gini", None])), "all", 0)),
        _each(lambda t: t.params["kind"] not in ("gini", None)),
    ),
    (
        _select((_where(("kind", "!=", "gini")), "all", 0)),
        _each(lambda t: t.params["kind"] != "gini"),
    ),
    (
        _select((_where(("params.depth", "between", [7, 3])), "all", 0)),
        _each(lambda t: 3 <= t.params["depth"] <= 7),
    ),
    (
        _select(
            (
                _where(("user_attrs.source", "==", "model"), ("user_attrs.fold", "==", "1")),
                "all",
                0,
            )
        ),
        _each(lambda t: t.user_attrs["source"] == "model" and t.user_attrs["fold"] == 1),
    ),
    (
        _select((_where(("intermediate_values.1", ">", 1.0)), "all", 0)),
        _each(lambda t: t.intermediate_values[1] > 1.0),
    ),
    (
        _select((_where(("last intermediate value", "<=", 0.8)), "all", 0)),
        _each(lambda t: t.intermediate_values[max(t.intermediate_values)] <= 0.8),
    ),
    (
        _select(
            (_where(("trial.number", ">=", 9)), "all", 0), (_where(("value", "<", 3)), "all", 0)
        ),
        _each(lambda t: t.number >= 9 or (t.state == COMPLETE and float(t.values[0]) < 3)),
    ),
    (
        _select((_where(("params.depth", ">=", 3)), "best", 2)),
        lambda s: {
            t.number for t in _ranked(s, [t for t in s.trials if t.params["depth"] >= 3], True)[:2]
        },
    ),
    (_select(([], "worst", 1)), lambda s: {_ranked(s, s.trials, False)[0].number}),
    (
        _select((_where(("state", "==", "Complete")), "last", 3)),
        lambda s: (
            {t.number for t in s.trials if t.state == COMPLETE}
            and set(sorted(t.number for t in s.trials if t.state == COMPLETE)[-3:])
        ),
    ),
    (_select(([], "first", 2)), lambda s: {0, 1}),
    (
        _select((_where(("state", "==", "Pruned")), "all", 0), ([], "best", 1)),
        lambda s: {5, s.best_trial.number},
    ),
]


@pytest.mark.parametrize(("answer", "chooses"), FILTERS)
def test_a_filter_query_keeps_on_the_page_what_it_says(
    studied: tuple[optuna.Study, list[dict[str, Any]]], page: Any, answer: str, chooses: Chooser
) -> None:
    study, details = studied
    code = translate.filter_function(query.read_filter(answer, query.fields(details)))
    expected = sorted(chooses(study))
    assert 0 < len(expected) < len(study.trials)
    assert filter_on_page(page, details[0], code, directions(details)) == expected
    verdict = check("filter", code, details)
    assert verdict.runs
    (kept,) = verdict.results
    assert [t.number for t in kept if t.kept] == expected
    # The user reads the model's query in the dashboard's approval dialog.
    assert "The model's query: {" in code


def _chart(
    kind: str, x: str, y: str, summary: str, *, series: str = "none", where: Any = ()
) -> str:
    return json.dumps(
        {"type": kind, "x": x, "y": y, "summary": summary, "series": series, "where": list(where)}
    )


def _label(value: Any) -> Any:
    return (
        {None: "None", True: "True", False: "False"}.get(value, value)
        if not isinstance(value, int | float) or isinstance(value, bool)
        else value
    )


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.trials if t.state == COMPLETE]


def _by_kind(study: optuna.Study) -> dict[Any, list[float]]:
    groups: dict[Any, list[float]] = {}
    for t in _complete(study):
        groups.setdefault(_label(t.params["kind"]), []).append(float(t.values[0]))
    return groups


def test_a_chart_query_counts_each_state_and_each_choice(
    studied: tuple[optuna.Study, list[dict[str, Any]]], page: Any
) -> None:
    _, details = studied
    known = query.chart_fields(details)
    bars = translate.chart_function(
        query.read_chart(_chart("bar", "state", "none", "count"), known)
    )
    (trace,) = chart_on_page(page, details[0], bars, directions(details))
    assert dict(zip(trace["x"], trace["y"], strict=True)) == {
        "Complete": 10,
        "Pruned": 1,
        "Fail": 1,
    }
    pie = translate.chart_function(
        query.read_chart(_chart("pie", "params.kind", "none", "count"), known)
    )
    (trace,) = chart_on_page(page, details[0], pie, directions(details))
    assert trace["type"] == "pie"
    assert dict(zip(trace["labels"], trace["values"], strict=True)) == {
        "gini": 3,
        "None": 3,
        "True": 3,
        "3": 3,
    }


def test_a_chart_query_summarizes_y_for_each_x(
    studied: tuple[optuna.Study, list[dict[str, Any]]], page: Any
) -> None:
    study, details = studied
    known = query.chart_fields(details)
    for summary, of in (("mean", statistics.mean), ("max", max), ("median", statistics.median)):
        code = translate.chart_function(
            query.read_chart(_chart("bar", "params.kind", "value", summary), known)
        )
        (trace,) = chart_on_page(page, details[0], code, directions(details))
        drawn = dict(zip(map(str, trace["x"]), trace["y"], strict=True))
        want = {str(k): of(v) for k, v in _by_kind(study).items()}
        assert drawn == pytest.approx(want)
    box = translate.chart_function(query.read_chart(_chart("box", "kind", "value", "each"), known))
    (trace,) = chart_on_page(page, details[0], box, directions(details))
    assert sorted(zip(map(str, trace["x"]), trace["y"], strict=True)) == sorted(
        (str(k), v) for k, vs in _by_kind(study).items() for v in vs
    )


def test_a_chart_query_draws_the_best_so_far_in_the_studys_direction(
    studied: tuple[optuna.Study, list[dict[str, Any]]], page: Any
) -> None:
    study, details = studied
    code = translate.chart_function(
        query.read_chart(
            _chart("line", "number", "value", "best so far"), query.chart_fields(details)
        )
    )
    (trace,) = chart_on_page(page, details[0], code, directions(details))
    better = max if study.direction.name == "MAXIMIZE" else min
    want, best = [], None
    for t in _complete(study):
        best = t.values[0] if best is None else better(best, t.values[0])
        want.append((t.number, best))
    assert trace["mode"] == "lines+markers"
    assert trace["x"] == [n for n, _ in want]
    assert trace["y"] == pytest.approx([v for _, v in want])


def test_a_chart_query_draws_each_reported_step_with_a_trace_per_trial(
    studied: tuple[optuna.Study, list[dict[str, Any]]], page: Any
) -> None:
    study, details = studied
    answer = _chart(
        "line",
        "step",
        "intermediate value",
        "each",
        series="number",
        where=_where(("state", "!=", "Complete")),
    )
    code = translate.chart_function(query.read_chart(answer, query.chart_fields(details)))
    traces = chart_on_page(page, details[0], code, directions(details))
    drawn = {t["name"]: (t["x"], t["y"]) for t in traces}
    reported = {t.number: t.intermediate_values for t in study.trials if t.state != COMPLETE}
    assert set(drawn) == {str(n) for n in reported}
    for number, steps in reported.items():
        xs, ys = drawn[str(number)]
        assert xs == sorted(steps) and ys == pytest.approx([steps[s] for s in sorted(steps)])


def test_a_chart_query_leaves_out_only_what_it_cannot_draw(
    studied: tuple[optuna.Study, list[dict[str, Any]]], page: Any
) -> None:
    study, details = studied
    known = query.chart_fields(details)
    every = translate.chart_function(
        query.read_chart(_chart("histogram", "params.depth", "none", "each"), known)
    )
    (trace,) = chart_on_page(page, details[0], every, directions(details))
    assert sorted(trace["x"]) == sorted(t.params["depth"] for t in study.trials)
    valued = translate.chart_function(
        query.read_chart(
            _chart("scatter", "params.depth", "value", "each", series="params.kind"), known
        )
    )
    traces = chart_on_page(page, details[0], valued, directions(details))
    assert sorted(t["name"] for t in traces) == ["3", "None", "True", "gini"]
    assert sum(len(t["x"]) for t in traces) == len(_complete(study))
    assert check("chart", valued, details).runs


@pytest.mark.parametrize(
    ("kind", "answer", "problem"),
    [
        ("filter", "the best trials", "not a JSON object"),
        ("filter", '{"select": [{"where": [], "take": "best",}]}', "not valid JSON"),
        ("filter", _select((_where(("params.booster", "==", 1)), "all", 0)), "'params.booster'"),
        ("filter", _select((_where(("params.kind", "==", "dart")), "all", 0)), "choices are"),
        ("filter", _select(([], "best", 0)), '"count" must be at least 1'),
        ("filter", _select((_where(("params.depth", "between", [3])), "all", 0)), "[low, high]"),
        ("filter", _select((_where(("params.depth", "<", "deep")), "all", 0)), "not a number"),
        ("filter", _select((_where(("state", "==", "finished")), "all", 0)), "state is one of"),
        ("chart", _chart("bar", "params.kind", "none", "mean"), '"y" must name a field'),
        ("chart", _chart("radar", "params.kind", "value", "each"), '"type" must be one of'),
        (
            "chart",
            _chart("line", "number", "value", "each", where=_where(("step", "==", 0))),
            "cannot test 'step'",
        ),
    ],
)
def test_a_query_that_cannot_be_used_is_named_with_its_problem(
    studied: tuple[optuna.Study, list[dict[str, Any]]], kind: str, answer: str, problem: str
) -> None:
    _, details = studied
    with pytest.raises(query.QueryError) as raised:
        if kind == "filter":
            query.read_filter(answer, query.fields(details))
        else:
            query.read_chart(answer, query.chart_fields(details))
    assert problem in str(raised.value)


def test_the_schema_offers_only_the_studys_fields(
    studied: tuple[optuna.Study, list[dict[str, Any]]],
) -> None:
    _, details = studied
    known = query.fields(details)
    schema = query.filter_schema(known)
    condition = schema["properties"]["select"]["items"]["properties"]["where"]["items"]
    names = condition["properties"]["field"]["enum"]
    assert {"number", "state", "value", "params.depth", "params.kind"} <= set(names)
    assert {"user_attrs.fold", "intermediate_values.0", "last intermediate value"} <= set(names)
    assert "step" not in names
    chart = query.chart_schema(query.chart_fields(details))
    assert {"step", "intermediate value", "none"} <= set(chart["properties"]["y"]["enum"])
    assert set(known["params.kind"].choices or ()) == {"gini", None, True, 3}


def test_a_multi_objective_study_has_a_field_per_objective() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, directions=["minimize", "maximize"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=2)
    known = query.fields(study_details(storage))
    assert {"values.0", "values.1"} <= set(known) and "value" not in known


def test_the_query_prompt_names_the_fields_the_choices_and_the_request(
    studied: tuple[optuna.Study, list[dict[str, Any]]],
) -> None:
    _, details = studied
    request = prompts.Request("filter", "trials with a None kind")
    text = prompts.compose_query(request, details, query.fields(details))
    (kind,) = [line for line in text.splitlines() if line.startswith('- "params.kind": one of ')]
    assert sorted(kind.removeprefix('- "params.kind": one of ').split(", ")) == sorted(
        ['"gini"', "null", "true", "3"]
    )
    assert '- "params.depth": integer from 1 to 9' in text
    assert '"user_attrs.fold", "user_attrs.source": user attributes' in text
    assert text.rstrip().endswith("The user asks: trials with a None kind")
    again = prompts.retry(request, '{"select": []}', '"select" must be a list')
    asked = prompts.compose_query(again, details, query.fields(details))
    assert 'Your last answer was:\n{"select": []}\nIt failed: "select" must be a list' in asked
    chart = prompts.compose_query(
        prompts.Request("chart", "depth by kind"), details, query.chart_fields(details)
    )
    assert '"step", "intermediate value": each step a trial reported' in chart


def test_code_is_told_from_a_query() -> None:
    assert query.looks_like_code("function (trial) { return true; }")
    assert query.looks_like_code("(trial) => trial.value > 1")
    assert not query.looks_like_code('{"select": [{"where": [], "take": "all", "count": 0}]}')


# ---- through the dashboard's HTTP endpoints, with a scripted model ----


class Script:
    """Answers in order; notes which answers were asked as queries (with a schema)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)

    def __call__(self, call: ChatCall) -> str:
        return self.answers.pop(0)


@pytest.fixture
def dashboard(demo_storage: str) -> Iterator[tuple[ScriptedLLMServer, str, Script]]:
    script = Script([])
    with ScriptedLLMServer(script) as server:
        provider = DashboardLLM(server.client(), server.model, storage=demo_storage)
        with DashboardServer(demo_storage, provider, port=0) as dash:
            yield server, dash.url.removesuffix("dashboard/"), script


def _asked_with_schema(call: ChatCall) -> bool:
    return call.schema is not None


def test_the_dashboard_gets_the_function_of_the_models_query(
    dashboard: tuple[ScriptedLLMServer, str, Script],
) -> None:
    server, root, script = dashboard
    script.answers[:] = [_select((_where(("params.booster", "==", "dart")), "all", 0))]
    answer = post(root, "trial_filter_query", {"user_query": "trials that used dart"})
    code = unwrap(answer["trial_filtering_func_str"])
    assert code is not None and 'trial.params["booster"] === "dart"' in code
    (call,) = server.requests
    assert call.schema is not None
    assert "The user asks: trials that used dart" in call.prompt
    fields = call.schema["properties"]["select"]["items"]["properties"]["where"]["items"]
    assert "params.booster" in fields["properties"]["field"]["enum"]


def test_a_query_that_cannot_be_used_is_asked_again_with_its_problem(
    dashboard: tuple[ScriptedLLMServer, str, Script],
) -> None:
    server, root, script = dashboard
    bad = _select((_where(("params.booster", "==", "xgb")), "all", 0))
    good = _chart("bar", "params.booster", "none", "count")
    script.answers[:] = [bad.replace("select", "nothing"), good]
    answer = post(root, "generate_plotly_graph_query", {"user_query": "trials per booster"})
    code = unwrap(answer["generate_plotly_graph_func_str"])
    assert code is not None and 'summary = "count"' in code
    _, second = server.requests
    assert "It failed: " in second.prompt and '"type" must be one of' in second.prompt
    assert _asked_with_schema(second)


def test_a_query_keeping_more_trials_than_asked_is_sent_back_then_asked_as_code(
    dashboard: tuple[ScriptedLLMServer, str, Script],
) -> None:
    server, root, script = dashboard
    every = _select(([], "all", 0))
    complete = _select((_where(("state", "==", "Complete")), "all", 0))
    top = "function (trial) { return trial.rank <= 2; }"
    script.answers[:] = [every, complete, top]
    answer = post(root, "trial_filter_query", {"user_query": "the top 2 trials"})
    assert unwrap(answer["trial_filtering_func_str"]) == top
    _, second, third = server.requests
    assert '"take": "best", "worst", "first" or "last"' in second.prompt
    assert '"count": 2' in second.prompt and _asked_with_schema(second)
    # The last answer is asked for as a function, afresh.
    assert not _asked_with_schema(third)
    assert "Write a JavaScript function" in third.prompt and "It failed" not in third.prompt


def test_an_endpoint_that_answers_with_code_is_asked_for_code(
    dashboard: tuple[ScriptedLLMServer, str, Script],
) -> None:
    server, root, script = dashboard
    throwing = "function (trial) { return trial.values[0] < 0.2; }"
    fixed = "function (trial) { return trial.value < 0.2; }"
    script.answers[:] = [throwing, fixed]
    answer = post(root, "trial_filter_query", {"user_query": "trials below 0.2"})
    assert unwrap(answer["trial_filtering_func_str"]) == fixed
    first, second = server.requests
    assert _asked_with_schema(first) and not _asked_with_schema(second)
    assert "Your last function was:\n" + throwing in second.prompt


def test_when_no_answer_is_usable_the_dashboard_gets_a_function_that_says_why(
    demo_storage: str,
) -> None:
    with ScriptedLLMServer(["not a query"]) as server:
        provider = DashboardLLM(server.client(), server.model, storage=demo_storage, attempts=1)
        with DashboardServer(demo_storage, provider, port=0) as dash:
            root = dash.url.removesuffix("dashboard/")
            answer = post(root, "trial_filter_query", {"user_query": "dart trials"})
    code = unwrap(answer["trial_filtering_func_str"])
    assert code is not None and "the model's answers were not usable" in code
    assert "not a JSON object" in code
    assert check("filter", code, study_details(demo_storage)).problem is not None


def test_a_change_to_a_chart_drawn_from_a_query_is_asked_as_a_query(demo_storage: str) -> None:
    counted = _chart("bar", "params.booster", "none", "count")
    sliced = _chart("pie", "params.booster", "none", "count")
    with ScriptedLLMServer([counted, sliced]) as server:
        provider = DashboardLLM(server.client(), server.model, storage=demo_storage)
        drawn = provider.call(get_generate_plotly_graph_prompt("trials per booster"))
        changed = provider.call(get_re_generate_plotly_graph_prompt(drawn, "as a pie"))
    assert 'const type = "pie"' in changed
    first, second = server.requests
    assert first.schema is not None and second.schema is not None
    shown = json.dumps(json.loads(counted), separators=(", ", ": "))
    assert f"The chart's query now:\n{shown}\nChange it as the user asks: as a pie" in (
        second.prompt
    )


def test_the_provider_keeps_each_answer_and_its_problem(demo_storage: str) -> None:
    unknown = _select((_where(("params.booster", "==", "xgb")), "all", 0))
    good = _select((_where(("params.booster", "==", "dart")), "all", 0))
    with ScriptedLLMServer([unknown, good]) as server:
        provider = DashboardLLM(server.client(), server.model, storage=demo_storage)
        provider.call(get_trial_filtering_prompt("dart trials"))
    failed, passed = provider.attempts
    assert (failed.kind, failed.query, failed.as_query) == ("filter", "dart trials", True)
    assert failed.problem is not None and "'xgb' is not a choice of params.booster" in (
        failed.problem
    )
    assert passed.problem is None and '"dart"' in passed.answer


def test_a_chart_query_that_leaves_out_the_state_the_request_names_is_asked_again(
    dashboard: tuple[ScriptedLLMServer, str, Script],
) -> None:
    server, root, script = dashboard
    every = _chart("histogram", "params.booster", "none", "each")
    complete = _chart(
        "histogram", "params.booster", "none", "each", where=_where(("state", "==", "Complete"))
    )
    script.answers[:] = [every, complete]
    request = {"user_query": "Histogram of booster over complete trials"}
    answer = post(root, "generate_plotly_graph_query", request)
    code = unwrap(answer["generate_plotly_graph_func_str"])
    assert code is not None and 't.state === "Complete"' in code
    _, second = server.requests
    assert 'the request names "Complete" trials, but "where" has no condition' in second.prompt


def test_a_union_of_selections_is_not_sent_back_for_its_count_or_states(
    dashboard: tuple[ScriptedLLMServer, str, Script],
) -> None:
    server, root, script = dashboard
    union = _select((_where(("state", "==", "Pruned")), "all", 0), ([], "best", 1))
    script.answers[:] = [union]
    request = {"user_query": "pruned trials and the best trial"}
    answer = post(root, "trial_filter_query", request)
    assert "The model's query: " in answer["trial_filtering_func_str"]
    assert len(server.requests) == 1
