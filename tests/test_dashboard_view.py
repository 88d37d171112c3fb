"""The trial view: the model's function sees trials as Optuna's Python API shows them.

The wrapped function runs here exactly as the dashboard's page runs it (``eval`` of the code,
then ``trials.filter(fn)`` or ``fn(study)`` on the page's trials), in V8, on a storage's own
study as optuna-dashboard serves it; the prompt that asks for such a function is read back from
the dashboard's own prompts, retries and rewrites included.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from typing import Any

from dashboard_page import PAGE
from dashboard_page import directions
from dashboard_page import every_kind_study
from dashboard_page import filter_on_page
import optuna
from optuna_dashboard.llm.prompt_templates._generate_plotly_graph import (
    get_re_generate_plotly_graph_prompt,
)
from optuna_dashboard.llm.prompt_templates._trial_filter import get_trial_filtering_prompt
import pytest

from optuna_llm._dashboard import prompts
from optuna_llm._dashboard.check import check
from optuna_llm._dashboard.studies import study_details
from optuna_llm._dashboard.view import expression
from optuna_llm._dashboard.view import repaired
from optuna_llm._dashboard.view import unwrap
from optuna_llm._dashboard.view import wrap


py_mini_racer = pytest.importorskip("py_mini_racer")


@pytest.fixture(scope="module", params=["maximize", "minimize"])
def studied(request: pytest.FixtureRequest) -> tuple[optuna.Study, list[dict[str, Any]]]:
    return every_kind_study(request.param)


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    context = py_mini_racer.MiniRacer()
    context.eval(PAGE)
    yield context


@pytest.mark.parametrize(
    ("code", "keeps"),
    [
        (
            "function (trial) { return trial.params.kind === null; }",
            lambda t: t.params.get("kind", 0) is None,
        ),
        (
            "function (trial) { return trial.params.kind === true; }",
            lambda t: t.params.get("kind") is True,
        ),
        (
            "function (trial) { return trial.params.kind === 3; }",
            lambda t: t.params.get("kind") == 3 and t.params.get("kind") is not True,
        ),
        (
            'function (trial) { return trial.params.kind === "gini"; }',
            lambda t: t.params.get("kind") == "gini",
        ),
        ("function (trial) { return trial.params.depth >= 5; }", lambda t: t.params["depth"] >= 5),
        (
            "function (trial) { return trial.user_attrs.fold === 1; }",
            lambda t: t.user_attrs["fold"] == 1,
        ),
        (
            'function (trial) { return trial.user_attrs.source === "model"; }',
            lambda t: t.user_attrs["source"] == "model",
        ),
        (
            "function (trial) { return trial.intermediate_values[0] > 0.4; }",
            lambda t: t.intermediate_values[0] > 0.4,
        ),
        (
            'function (trial) { return trial.state === "Pruned" || trial.state === "Fail"; }',
            lambda t: t.state.name in ("PRUNED", "FAIL"),
        ),
        (
            "function (trial) { return trial.value > 5; };",
            lambda t: t.state.name == "COMPLETE" and t.value > 5,
        ),
    ],
)
def test_the_page_runs_the_models_function_on_python_shaped_trials(
    studied: tuple[optuna.Study, list[dict[str, Any]]], page: Any, code: str, keeps: Any
) -> None:
    study, details = studied
    expected = [t.number for t in study.trials if keeps(t)]
    assert 0 < len(expected) < len(study.trials)
    assert filter_on_page(page, details[0], code, directions(details)) == expected
    # The check sees the same trials as the page.
    (kept,) = check("filter", code, details).results
    assert [t.number for t in kept if t.kept] == expected


def test_ranks_follow_the_studys_direction(
    studied: tuple[optuna.Study, list[dict[str, Any]]], page: Any
) -> None:
    study, details = studied
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    maximize = study.direction.name == "MAXIMIZE"
    best_first = sorted(complete, key=lambda t: float(t.values[0]), reverse=maximize)
    detail = details[0]
    top = filter_on_page(page, detail, "function (t) { return t.rank <= 2; }", directions(details))
    worst = filter_on_page(
        page, detail, "function (t) { return t.rank_from_worst === 1; }", directions(details)
    )
    best = filter_on_page(
        page, detail, "function (t, s) { return t === s.best_trial; }", directions(details)
    )
    assert top == sorted(t.number for t in best_first[:2])
    assert worst == [best_first[-1].number]
    assert best == [study.best_trial.number]


def test_a_study_of_unknown_direction_has_values_but_no_ranks(
    studied: tuple[optuna.Study, list[dict[str, Any]]], page: Any
) -> None:
    study, details = studied
    detail = details[0]
    assert filter_on_page(page, detail, "function (t) { return t.rank <= 2; }", {}) == []
    valued = filter_on_page(page, detail, "function (t) { return t.value > 0; }", {})
    complete = optuna.trial.TrialState.COMPLETE
    assert valued == [t.number for t in study.trials if t.state == complete]


def test_a_chart_draws_from_the_python_shaped_study(
    studied: tuple[optuna.Study, list[dict[str, Any]]], page: Any
) -> None:
    study, details = studied
    code = """function (study) {
      const done = study.trials.filter((t) => t.state === "Complete");
      return [{type: "scatter", x: done.map((t) => t.params.depth), y: done.map((t) => t.value),
        name: study.direction + " " + study.best_trial.number}];
    }"""
    wrapped = wrap("chart", code)
    drawn = page.eval(
        f"JSON.stringify(pageChart({json.dumps(details[0])}, {json.dumps(wrapped)}))"
    )
    (trace,) = json.loads(drawn)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert trace["x"] == [t.params["depth"] for t in complete]
    assert trace["y"] == pytest.approx([t.value for t in complete])
    assert trace["name"] == f"{study.direction.name.lower()} {study.best_trial.number}"
    assert check("chart", code, details).runs


def test_unwrap_gives_back_the_models_function() -> None:
    code = "function (trial) {\n  // a comment\n  return trial.number > 2;\n}"
    assert unwrap(wrap("filter", code + ";\n")) == code
    assert unwrap(wrap("chart", code)) == code
    assert unwrap(code) is None
    assert expression("  function (t) { return 1; } ;  ") == "function (t) { return 1; }"


def test_the_prompt_asks_for_the_python_shape_with_the_studys_facts(
    studied: tuple[optuna.Study, list[dict[str, Any]]],
) -> None:
    study, details = studied
    dashboard_prompt = get_trial_filtering_prompt("trials with depth above 3")
    request = prompts.request_of(dashboard_prompt, "filter")
    assert request == prompts.Request("filter", "trials with depth above 3")
    text = prompts.compose(request, details)
    better = "higher" if study.direction.name == "MAXIMIZE" else "lower"
    objective = "the objective, by whatever name the user gives it (accuracy, loss, ...)"
    assert f"- trial.value: {objective}; {better} is better" in text
    choices = text.split("kind (one of ", 1)[1].split(")", 1)[0]
    assert sorted(choices.split(", ")) == sorted(['"gini"', "null", "true", "3"])
    assert "depth (integer from 1 to 9)" in text
    assert 'trial.user_attrs keys: "fold", "source"' in text
    assert text.rstrip().endswith("The user asks: trials with depth above 3")
    # The dashboard's own description of its trials is not passed on.
    assert "param_internal_value" not in text and "TrialParam" not in text


def test_a_retry_and_a_rewrite_show_the_model_its_own_function() -> None:
    mine = "function (trial) { return trial.params.depth > 3; }"
    retry = get_trial_filtering_prompt("deep trials", wrap("filter", mine), "TypeError: boom")
    request = prompts.request_of(retry, "filter")
    assert request is not None and (request.code, request.problem) == (mine, "TypeError: boom")
    assert "Your last function was:\n" + mine in prompts.compose(request, [])

    chart = "function (study) { return []; }"
    rewrite = get_re_generate_plotly_graph_prompt(wrap("chart", chart), "use bars")
    changed = prompts.request_of(rewrite, "rechart")
    assert changed == prompts.Request("chart", "use bars", previous=chart)
    text = prompts.compose(changed, [])
    assert f"The chart's function now:\n{chart}\nChange it as the user asks: use bars" in text
    # A chart function optuna-llm did not write keeps the dashboard's own prompt.
    assert (
        prompts.request_of(get_re_generate_plotly_graph_prompt(chart, "bars"), "rechart") is None
    )


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_the_objective_is_called_by_the_studys_metric_name() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize")
    study.set_metric_names(["accuracy"])
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    text = prompts.compose(prompts.Request("chart", "accuracy by trial"), study_details(storage))
    assert '- trial.value: "accuracy"; higher is better (maximize)' in text
    assert "x: done.map((t) => t.params.x)" in text


@pytest.mark.parametrize(
    ("kind", "answer", "code"),
    [
        ("chart", "function study() { return []; };", "function (study) { return []; }"),
        ("chart", "function  study ( ) {}", "function (study) {}"),
        ("filter", "function trial() { return 1; }", "function (trial, study) { return 1; }"),
        ("chart", "function (study) { return []; }", "function (study) { return []; }"),
        ("chart", "function draw() { return []; }", "function draw() { return []; }"),
    ],
)
def test_a_function_named_after_its_input_gets_that_input(
    kind: Any, answer: str, code: str
) -> None:
    assert repaired(kind, answer) == code
