"""optuna-dashboard's page, as far as a generated function meets it: the page turns the API's
trials into its own (dates as ``Date``), then runs a filter as ``trials.filter(eval(code))`` and
a chart as ``eval(code)(study)``. Here in V8, for tests that run wrapped functions as the
browser does."""

from __future__ import annotations

import json
from typing import Any
from typing import Literal
import urllib.request

import optuna

from optuna_llm._dashboard.studies import study_details
from optuna_llm._dashboard.view import wrap


# A categorical parameter with a choice of each Python type the dashboard serves.
KINDS: list[Any] = ["gini", None, True, 3]


PAGE = """
function pageTrial(t) {
  return {...t, datetime_start: t.datetime_start ? new Date(t.datetime_start) : undefined,
    datetime_complete: t.datetime_complete ? new Date(t.datetime_complete) : undefined};
}
function pageFilter(detail, code) {
  return detail.trials.map(pageTrial).filter(eval("(" + code + ")")).map((t) => t.number);
}
function pageChart(detail, code) {
  return eval("(" + code + ")")({...detail, trials: detail.trials.map(pageTrial)});
}
"""


def every_kind_study(
    direction: Literal["minimize", "maximize"],
) -> tuple[optuna.Study, list[dict[str, Any]]]:
    """A study of 12 trials with every kind of choice, user attributes, two reported steps, a
    pruned trial and a failed one, and its details as the dashboard serves them."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        storage=storage, direction=direction, sampler=optuna.samplers.RandomSampler(seed=3)
    )
    for number in range(12):
        study.enqueue_trial({"kind": KINDS[number % 4], "depth": 1 + (number * 5) % 9})
    study.optimize(_objective, n_trials=12, catch=(ValueError,))
    return study, study_details(storage)


def _objective(trial: optuna.Trial) -> float:
    depth = trial.suggest_int("depth", 1, 9)
    kind = trial.suggest_categorical("kind", KINDS)
    trial.set_user_attr("fold", trial.number % 3)
    trial.set_user_attr("source", "model" if trial.number % 2 else "sampler")
    trial.report(depth / 10, 0)
    trial.report(depth / 5, 1)
    if trial.number == 5:
        raise optuna.TrialPruned()
    if trial.number == 6:
        raise ValueError("failed on purpose")
    return depth + (0.5 if kind is None else 0.0) + trial.number / 100


def post(root: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The answer of the dashboard at ``root`` to a POST of ``body`` to its LLM endpoint."""
    request = urllib.request.Request(
        f"{root}api/llm/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def directions(details: list[dict[str, Any]]) -> dict[int, list[str]]:
    """The studies' directions by id, as the provider gives them to the wrapper."""
    return {int(d["id"]): list(d["directions"]) for d in details}


def filter_on_page(page: Any, detail: dict[str, Any], code: str, ways: Any) -> list[int]:
    """The numbers of the trials the model's filter ``code``, wrapped, keeps on the page."""
    kept: list[int] = _run(page, "pageFilter", detail, wrap("filter", code, ways))
    return kept


def chart_on_page(
    page: Any, detail: dict[str, Any], code: str, ways: Any = None
) -> list[dict[str, Any]]:
    """The traces the model's chart function ``code``, wrapped, draws on the page."""
    traces: list[dict[str, Any]] = _run(page, "pageChart", detail, wrap("chart", code, ways))
    return traces


def _run(page: Any, function: str, detail: dict[str, Any], wrapped: str) -> Any:
    call = f"JSON.stringify({function}({json.dumps(detail)}, {json.dumps(wrapped)}))"
    return json.loads(page.eval(call))
