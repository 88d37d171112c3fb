"""The dashboard provider runs the model's code before the dashboard gets it.

Unit tests of the V8 check on the synthetic study and on a storage's study, then the provider
behind optuna-dashboard's own HTTP endpoints with a scripted model: a function that throws, one
that does not parse and one that changes its input are each sent back with the problem and the
fixed answer is what the dashboard gets; a chart's title costs no model call.
"""

from __future__ import annotations

from collections.abc import Iterator
import re
from typing import Any

from dashboard_page import post
import optuna
import pytest

from benchmarks.dashboard_llm import DEMO_STUDY
from optuna_llm._dashboard import prompts
from optuna_llm._dashboard.check import check
from optuna_llm._dashboard.studies import is_synthetic
from optuna_llm._dashboard.studies import study_details
from optuna_llm._dashboard.view import unwrap
from optuna_llm._dashboard.view import wrap
from optuna_llm.dashboard import DashboardLLM
from optuna_llm.dashboard import DashboardServer
from optuna_llm.testing import ChatCall
from optuna_llm.testing import ScriptedLLMServer


GOOD_FILTER = """function (trial, study) {
  return trial.params.booster === "dart";
}"""
THROWING_FILTER = "function (trial) { return trial.values[0] < 0.2; }"
UNPARSABLE_FILTER = "function (trial: any) { return trial.number < 5; }"
MUTATING_FILTER = "function (trial) { trial.number = trial.number + 1; return true; }"
INVENTED_FIELD_FILTER = 'function (trial) { return trial.distribution?.type === "dart"; }'
INVENTED_PARAMETER_FILTER = "function (trial) { return trial.params.momentum > 0.1; }"
ENDLESS_FILTER = "function (trial) { while (true) {} }"
GOOD_CHART = """function (study) {
  const done = study.trials.filter(t => t.state === "Complete");
  return [{type: "scatter", x: done.map(t => t.number), y: done.map(t => t.value)}];
}"""
SORTING_CHART = """function (study) {
  const done = study.trials.sort((a, b) => a.number - b.number);
  return [{type: "scatter", x: done.map(t => t.number), y: done.map(t => t.number)}];
}"""
EMPTY_CHART = 'function (study) { return [{type: "box", x: [], y: []}]; }'


@pytest.fixture(scope="module")
def synthetic() -> list[dict[str, Any]]:
    return study_details(None)


def test_the_synthetic_study_has_every_state_and_parameter_type(
    synthetic: list[dict[str, Any]],
) -> None:
    (study,) = synthetic
    assert {t["state"] for t in study["trials"]} == {
        "Complete",
        "Pruned",
        "Fail",
        "Running",
        "Waiting",
    }
    kinds = {p["distribution"]["type"] for t in study["trials"] for p in t["params"]}
    assert kinds == {"FloatDistribution", "IntDistribution", "CategoricalDistribution"}
    assert all("values" not in t for t in study["trials"] if t["state"] != "Complete")


def test_the_storages_own_trials_are_what_the_check_runs_on(demo_storage: str) -> None:
    (study,) = study_details(demo_storage)
    assert study["name"] == DEMO_STUDY and len(study["trials"]) == 30
    assert not is_synthetic(study)
    # The dashboard's own shape: user attributes as a key/value list, external values as text.
    first = study["trials"][0]
    assert {"key", "value"} <= set(first["user_attrs"][0])
    assert all(isinstance(p["param_external_value"], str) for p in first["params"])


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (THROWING_FILTER, "TypeError: Cannot read properties of undefined"),
        (UNPARSABLE_FILTER, "does not parse as JavaScript: SyntaxError"),
        (MUTATING_FILTER, "must not modify its input"),
        (INVENTED_FIELD_FILTER, "fields that the trials do not have: trial.distribution"),
        (INVENTED_PARAMETER_FILTER, "do not have: trial.params.momentum"),
        (ENDLESS_FILTER, "did not finish within 2 s"),
        ('"not a function"', "not a function but string"),
    ],
)
def test_a_filter_that_cannot_run_on_the_trials_is_named_with_its_problem(
    demo_storage: str, code: str, problem: str
) -> None:
    verdict = check("filter", code, study_details(demo_storage))
    assert not verdict.runs
    assert problem in str(verdict.problem)


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (EMPTY_CHART, "returned no data"),
        ("function (study) { return {x: [1]}; }", "not an array of Plotly traces"),
        ("function (study) { return [{x: [1, 2], y: [1]}]; }", "differ in length (2 and 1)"),
        (
            "function (study) { const a = []; while (true) a.push(new Array(1e6).fill(1)); }",
            "more than 128 MB",
        ),
    ],
)
def test_a_chart_that_cannot_run_or_draws_nothing_is_named_with_its_problem(
    synthetic: list[dict[str, Any]], code: str, problem: str
) -> None:
    verdict = check("chart", code, synthetic)
    assert problem in str(verdict.problem)


@pytest.mark.parametrize(("kind", "code"), [("filter", GOOD_FILTER), ("chart", GOOD_CHART)])
def test_a_function_that_runs_passes(
    demo_storage: str, synthetic: list[dict[str, Any]], kind: Any, code: str
) -> None:
    assert check(kind, code, study_details(demo_storage)).runs
    assert check(kind, code, synthetic).runs


def test_a_chart_may_sort_its_own_view_but_a_filter_may_not(
    synthetic: list[dict[str, Any]],
) -> None:
    # A chart's view is built for each drawing; a filter's is shared by the whole trial list.
    assert check("chart", SORTING_CHART, synthetic).runs
    sorting = "function (trial, study) { study.trials.sort(); return true; }"
    assert "must not modify its input" in str(check("filter", sorting, synthetic).problem)


def test_a_filter_may_rank_the_study_s_trials_for_top_n(demo_storage: str) -> None:
    top = """function (trial, study) {
      const best = [...study.trials].filter(t => t.state === "Complete")
        .sort((a, b) => a.value - b.value).slice(0, 3);
      return best.includes(trial);
    }"""
    verdict = check("filter", top, study_details(demo_storage))
    ranked = check(
        "filter", "function (trial) { return trial.rank <= 3; }", study_details(demo_storage)
    )
    assert verdict.runs and verdict.results == ranked.results
    assert sum(t.kept for t in verdict.results[0]) == 3


def test_a_parameter_only_some_trials_have_is_not_an_invented_field() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    study.optimize(
        lambda t: t.suggest_float("x", 0, 1) + (t.suggest_int("k", 1, 3) if t.number % 2 else 0),
        n_trials=4,
    )
    assert check(
        "filter", "function (trial) { return trial.params.k > 1; }", study_details(storage)
    ).runs


def test_the_title_is_the_request_without_a_model_call() -> None:
    assert prompts.title_for("box plot of accuracy per criterion.") == (
        "Box plot of accuracy per criterion"
    )
    long = prompts.title_for("scatter of the learning rate against the objective, log scale x")
    assert len(long) <= prompts.MAX_TITLE_CHARACTERS and long.endswith("…")


class Scripted:
    """Answers the filter and chart prompts from lists, one answer per request, in order."""

    def __init__(self, filters: list[str], charts: list[str] | None = None) -> None:
        self.filters = list(filters)
        self.charts = list(charts or [])

    def __call__(self, call: ChatCall) -> str:
        if "takes `trial` and `study`" in call.prompt:
            return self.filters.pop(0)
        return self.charts.pop(0)


@pytest.fixture
def dashboard(demo_storage: str) -> Iterator[tuple[ScriptedLLMServer, str, Scripted]]:
    script = Scripted([])
    with ScriptedLLMServer(script) as server:
        # Functions the model writes itself: the queries asked first are test_dashboard_query's.
        provider = DashboardLLM(server.client(), server.model, storage=demo_storage, queries=False)
        with DashboardServer(demo_storage, provider, port=0) as dash:
            yield server, dash.url.removesuffix("dashboard/"), script


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (THROWING_FILTER, "TypeError"),
        (UNPARSABLE_FILTER, "SyntaxError"),
        (MUTATING_FILTER, "must not modify its input"),
    ],
)
def test_a_broken_filter_is_sent_back_and_the_dashboard_gets_the_fixed_one(
    dashboard: tuple[ScriptedLLMServer, str, Scripted], broken: str, problem: str
) -> None:
    server, root, script = dashboard
    script.filters[:] = [broken, GOOD_FILTER]
    answer = post(root, "trial_filter_query", {"user_query": "trials that used dart"})
    assert unwrap(answer["trial_filtering_func_str"]) == GOOD_FILTER
    first, second = server.requests
    # The model saw the trials' shape and the study's parameters, then its code and the problem.
    assert "trial.params: {name: value}" in first.prompt
    assert re.search(r'booster \(one of "\w+", "\w+", "\w+"\)', first.prompt)
    assert (
        "lower is better" in first.prompt
        and "The user asks: trials that used dart" in first.prompt
    )
    assert broken in second.prompt and problem in second.prompt
    assert second.prompt.count("It failed:") == 1


ALL_COMPLETE_FILTER = 'function (trial) { return trial.state === "Complete"; }'
TOP_TWO_FILTER = "function (trial, study) { return trial.rank <= 2; }"


def test_a_filter_that_keeps_more_trials_than_asked_for_is_sent_back(
    dashboard: tuple[ScriptedLLMServer, str, Scripted],
) -> None:
    server, root, script = dashboard
    script.filters[:] = [ALL_COMPLETE_FILTER, TOP_TWO_FILTER]
    answer = post(root, "trial_filter_query", {"user_query": "the top 2 complete trials"})
    assert unwrap(answer["trial_filtering_func_str"]) == TOP_TWO_FILTER
    _, second = server.requests
    assert "the request asks for 2 trials, but it keeps" in second.prompt
    assert "trial.rank <= 2" in second.prompt


def test_a_broken_chart_is_sent_back_and_its_title_costs_no_model_call(
    dashboard: tuple[ScriptedLLMServer, str, Scripted],
) -> None:
    server, root, script = dashboard
    script.charts[:] = [EMPTY_CHART, GOOD_CHART]
    answer = post(root, "generate_plotly_graph_query", {"user_query": "objective by trial"})
    assert unwrap(answer["generate_plotly_graph_func_str"]) == GOOD_CHART
    assert answer["generate_plotly_graph_title"] == "Objective by trial"
    assert len(server.requests) == 2
    assert "returned no data" in server.requests[1].prompt


def test_when_the_attempts_run_out_the_dashboard_gets_the_last_answer(
    dashboard: tuple[ScriptedLLMServer, str, Scripted],
) -> None:
    server, root, script = dashboard
    script.filters[:] = [THROWING_FILTER, UNPARSABLE_FILTER, MUTATING_FILTER]
    answer = post(root, "trial_filter_query", {"user_query": "the best trials"})
    assert unwrap(answer["trial_filtering_func_str"]) == MUTATING_FILTER
    assert len(server.requests) == 3


def test_the_dashboards_own_retry_shows_the_model_its_own_function_and_the_error(
    dashboard: tuple[ScriptedLLMServer, str, Scripted],
) -> None:
    server, root, script = dashboard
    script.filters[:] = [GOOD_FILTER]
    failed = wrap("filter", "function (t) { return t.x; }")
    last = {"func_str": failed, "error_message": "ReferenceError: x"}
    body = {"user_query": "dart trials", "last_response": last}
    answer = post(root, "trial_filter_query", body)["trial_filtering_func_str"]
    assert unwrap(answer) == GOOD_FILTER
    (call,) = server.requests
    assert "Your last function was:\nfunction (t) { return t.x; }\n" in call.prompt
    assert "It failed: ReferenceError: x" in call.prompt and "optuna-llm" not in call.prompt


def test_bad_limits_are_refused() -> None:
    with ScriptedLLMServer([]) as server:
        client = server.client()
    with pytest.raises(ValueError, match="attempts"):
        DashboardLLM(client, "m", attempts=0)
    with pytest.raises(ValueError, match="check_seconds"):
        DashboardLLM(client, "m", check_seconds=0)


def test_a_read_of_a_missing_name_is_answered_with_the_names_the_trials_have(
    demo_storage: str,
) -> None:
    code = 'function (trial) { return trial.user_attrs["accuracy"] > 0.5; }'
    problem = str(check("filter", code, study_details(demo_storage)).problem)
    assert "do not have: trial.user_attrs.accuracy" in problem
    assert "The objective is trial.value; trial.params has " in problem
    assert '"llm:source"' in problem and "booster" in problem


def test_when_the_answers_run_out_the_dashboard_gets_the_last_filter_that_runs(
    dashboard: tuple[ScriptedLLMServer, str, Scripted],
) -> None:
    server, root, script = dashboard
    script.filters[:] = [ALL_COMPLETE_FILTER, THROWING_FILTER, UNPARSABLE_FILTER]
    answer = post(root, "trial_filter_query", {"user_query": "the top 2 complete trials"})
    # Keeping too many is wrong, but it runs; the later answers do not.
    assert unwrap(answer["trial_filtering_func_str"]) == ALL_COMPLETE_FILTER
    assert len(server.requests) == 3
