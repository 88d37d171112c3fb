"""optuna-dashboard's page, as far as a generated function meets it: the page turns the API's
trials into its own (dates as ``Date``), then runs a filter as ``trials.filter(eval(code))`` and
a chart as ``eval(code)(study)``. Here in V8, for tests that run wrapped functions as the
browser does."""

from __future__ import annotations

import json
from typing import Any

from optuna_llm._dashboard.view import wrap


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
