"""optuna-dashboard's prompts read, and the provider's own written in their place: which
feature asks, what the user asked, the prompt that asks the model for a function over trials
shaped as Optuna's Python API shows them (see ``view.py``), the re-ask after a failed check,
and a chart's title taken from the request.

The dashboard's prompts are its own (``optuna_dashboard.llm.prompt_templates``); a provider
sees only their text. Each begins with a sentence of its own, and those of the generated
functions end the user's words with ``====== User Query Finished ======``, after which the
dashboard appends its own failure message when it asks again. They describe the trials as the
dashboard's page holds them, a shape the bundled model misreads (see docs/dashboard.md), so
the provider keeps only the request from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
import json
import re
from typing import Any
from typing import Literal

from optuna_llm._dashboard.query import STEP
from optuna_llm._dashboard.query import Field
from optuna_llm._dashboard.query import choice_value
from optuna_llm._dashboard.studies import is_synthetic
from optuna_llm._dashboard.translate import query_of
from optuna_llm._dashboard.view import unwrap


PromptKind = Literal["filter", "chart", "rechart", "title"]

_OPENINGS: dict[str, PromptKind] = {
    "Please write a filtering function": "filter",
    "Please write a JavaScript function that, given the Study object": "chart",
    "Please rewrite a JavaScript function": "rechart",
    "You are tasked with generating ONLY a concise graph title": "title",
}
_QUERY_END = "====== User Query Finished ======"
_TITLE_QUERY = re.compile(r"User Query:\n-+\n(?P<query>.*?)\n-+\n", re.DOTALL)

MAX_TITLE_CHARACTERS = 50
# At most this many parameters are named in the prompt, and this many choices of each.
_MAX_PARAMETERS = 20
_MAX_CHOICES = 8

_TRIAL_FIELDS = """Each trial looks like an Optuna FrozenTrial:
- trial.number: 0, 1, 2, ... in the order the trials started
- trial.state: "Complete", "Pruned", "Fail", "Running" or "Waiting"
- trial.value: the objective value; undefined unless the trial is complete
- trial.params: {{name: value}}, e.g. trial.params.{name}
- trial.user_attrs: {{key: value}}, e.g. trial.user_attrs["{key}"]
- trial.intermediate_values: {{step: value}}, e.g. trial.intermediate_values[0]
- trial.rank: 1 for the best complete trial, 2 for the second best, ...; undefined if not complete
- trial.rank_from_worst: 1 for the worst complete trial, 2 for the second worst, ...
study.trials is the list of all trials, study.best_trial the best one."""

_FILTER = """Write a JavaScript function that takes `trial` and `study` and returns true for the \
trials the user asks for, and false for the others.

{fields}

Examples:
// trials with {name} above {bound}
function (trial, study) {{
  return trial.params.{name} > {bound};
}}
// the 5 best trials
function (trial, study) {{
  return trial.rank <= 5;
}}
// the 3 best trials with {name} above {bound}
function (trial, study) {{
  const ranked = study.trials.filter((t) => t.params.{name} > {bound} && t.rank)
    .sort((a, b) => a.rank - b.rank);
  return ranked.slice(0, 3).includes(trial);
}}
{facts}
Test trial.state only if the user names a state. Plain JavaScript, no type annotations. Do not \
change trial or study. No network, DOM or I/O. Answer with the function only.
"""

_CHART = """Write a JavaScript function that takes `study` and returns an array of Plotly \
traces (data only, no layout) drawing what the user asks for.

{fields}

Examples:
// a histogram of {name}
function (study) {{
  return [{{type: "histogram", x: study.trials.map((t) => t.params.{name})}}];
}}
// the objective against {name}: only complete trials have a value
function (study) {{
  const done = study.trials.filter((t) => t.value !== undefined);
  return [{{type: "scatter", mode: "markers", name: "{name}",
    x: done.map((t) => t.params.{name}), y: done.map((t) => t.value)}}];
}}
{facts}
Leave out only the trials the chart cannot draw. Plain JavaScript, no type annotations. No \
network, DOM or I/O. Each trace's x and y have the same length. Answer with the function only.
"""

_CONDITION = """A condition is {"field": ..., "op": ..., "value": ...}, "op" one of "==", \
"!=", "<", "<=", ">", ">=", "between" (value [low, high], both included), "in", "not in" \
(value a list)."""

_FILTER_QUERY = """Answer with a JSON object that selects the trials the user asks for:
{{"select": [{{"where": [conditions], "take": "all", "count": 0}}]}}
A trial is kept if it is in any of the selections. A selection holds the trials that meet \
every condition in "where" ([] for every trial); "take": "all" keeps them all, "best" or \
"worst" keeps the "count" complete trials with the best or worst value, "first" or "last" \
the "count" trials that started first or last (the oldest or the most recent).
{condition}

Fields:
{fields}

Examples:
// trials with {name} above {bound}
{{"select": [{{"where": [{{"field": "params.{name}", "op": ">", "value": {bound}}}], \
"take": "all", "count": 0}}]}}
// the 3 best trials
{{"select": [{{"where": [], "take": "best", "count": 3}}]}}
// running trials, and trials with {name} above {bound}
{{"select": [{{"where": [{{"field": "state", "op": "==", "value": "Running"}}], \
"take": "all", "count": 0}}, {{"where": [{{"field": "params.{name}", "op": ">", \
"value": {bound}}}], "take": "all", "count": 0}}]}}

Test "state" only if the user names a state.
"""

_CHART_QUERY = """Answer with a JSON object that describes the Plotly chart the user asks for:
{{"type": ..., "x": field, "y": field or "none", "summary": ..., "series": field or "none", \
"where": [conditions]}}
- "type": "scatter", "line", "bar", "histogram" (of x), "box" (the spread of y for each x) \
or "pie" (a slice for each x)
- "summary": "each" (a point for each trial), "count" (how many trials have each x), \
"mean", "median", "min", "max" or "sum" (of y for each x), "best so far" (the best y up to \
each x)
- "series": a field with one trace for each of its values, or "none" for one trace
- "where": the trials to draw; [] draws every trial that has x and y. {condition}

Fields:
{fields}

Examples:
// a histogram of {name}
{{"type": "histogram", "x": "params.{name}", "y": "none", "summary": "each", "series": "none", \
"where": []}}
// the objective against {name}
{{"type": "scatter", "x": "params.{name}", "y": "value", "summary": "each", "series": "none", \
"where": []}}
// the highest objective for each {category} as bars
{{"type": "bar", "x": "params.{category}", "y": "value", "summary": "max", "series": "none", \
"where": []}}
"""

_QUERY_FAILED = """
Your last answer was:
{answer}
It failed: {problem}
Answer again without this problem.
"""

_FAILED = """
Your last function was:
{answer}
It failed: {problem}
Write the function again without this problem.
"""

_DASHBOARD_FAILURE = re.compile(
    r"generated the following function:\n\n```javascript\n(?P<code>.*?)\n```\n\n"
    r"This function failed with the following error message:\n\n```\n(?P<problem>.*?)\n```",
    re.DOTALL,
)
_PREVIOUS_FUNCTION = re.compile(
    r"Previously generated function:\n-+\n(?P<code>.*?)\n-+\n", re.DOTALL
)


def kind_of(prompt: str) -> PromptKind | None:
    """Which of the dashboard's features wrote ``prompt``; None for a prompt it does not know."""
    start = prompt.lstrip()
    for opening, kind in _OPENINGS.items():
        if start.startswith(opening):
            return kind
    return None


def user_query(prompt: str, kind: PromptKind) -> str:
    """The user's own words in one of the dashboard's prompts ("" if they cannot be found)."""
    if kind == "title":
        found = _TITLE_QUERY.search(prompt)
        return found.group("query").strip() if found else ""
    before, marker, _ = prompt.partition(_QUERY_END)
    if not marker:
        return ""
    words = before.rstrip().rsplit(":\n", 1)[-1]
    return "\n".join(line for line in words.splitlines() if not re.fullmatch(r"-+", line)).strip()


@dataclass(frozen=True)
class Request:
    """What one of the dashboard's prompts for a function asks: the user's words, the chart
    function to change (for a rewrite), and the last answer and why it failed (for a retry).

    ``code`` and ``previous`` are the model's own functions, taken out of their wrapper.
    """

    kind: Literal["filter", "chart"]
    query: str
    previous: str | None = None
    code: str | None = None
    problem: str | None = None


def request_of(prompt: str, kind: PromptKind) -> Request | None:
    """The request in one of the dashboard's prompts for a function; None for a title, or for
    a rewrite of a chart function that optuna-llm did not write (its own prompt suits it)."""
    if kind == "title":
        return None
    previous = None
    if kind == "rechart":
        found = _PREVIOUS_FUNCTION.search(prompt)
        previous = unwrap(found.group("code")) if found else None
        if previous is None:
            return None
    code = problem = None
    failure = _DASHBOARD_FAILURE.search(prompt.partition(_QUERY_END)[2])
    if failure is not None:
        code = unwrap(failure.group("code")) or failure.group("code")
        problem = failure.group("problem")
    return Request(
        "filter" if kind == "filter" else "chart",
        user_query(prompt, kind),
        previous=previous,
        code=code,
        problem=problem,
    )


def compose(request: Request, details: Sequence[dict[str, Any]]) -> str:
    """The prompt that asks the model for ``request``'s function, on trials shaped as in
    ``view.py``, with the facts of the studies in ``details``."""
    # The synthetic study that stands in for an empty storage is no study of the user's.
    details = [d for d in details if not is_synthetic(d)]
    name, bound = _example_parameter(details)
    keys = _user_attr_keys(details)
    fields = _TRIAL_FIELDS.format(name=name, key=keys[0] if keys else "source")
    facts = "\n".join(_facts(details))
    facts = f"\nThis study:\n{facts}\n" if facts else ""
    template = _FILTER if request.kind == "filter" else _CHART
    text = template.format(fields=fields, name=name, bound=bound, facts=facts)
    now = ("function", request.previous) if request.previous is not None else None
    return _asking(text, request, now, _FAILED)


def compose_query(
    request: Request, details: Sequence[dict[str, Any]], known: dict[str, Field]
) -> str:
    """The prompt that asks the model for ``request`` as a query (see ``query.py``) over the
    fields ``known`` of the studies in ``details``."""
    details = [d for d in details if not is_synthetic(d)]
    name, bound = _example_parameter(details)
    template = _FILTER_QUERY if request.kind == "filter" else _CHART_QUERY
    text = template.format(
        condition=_CONDITION,
        fields="\n".join(_field_lines(known, details)),
        name=name,
        bound=bound,
        category=_example_category(details),
    )
    shown = query_of(request.previous) if request.previous is not None else None
    return _asking(text, request, ("query", shown) if shown is not None else None, _QUERY_FAILED)


def _asking(text: str, request: Request, now: tuple[str, str] | None, failed: str) -> str:
    """``text`` followed by the user's request, as a change to the chart's function or query
    ``now`` if there is one, and by the last answer and its problem after a failed check."""
    if now is not None:
        what, shown = now
        text += f"\nThe chart's {what} now:\n{shown}\nChange it as the user asks: "
    else:
        text += "\nThe user asks: "
    text += request.query + "\n"
    if request.code is not None:
        text += failed.format(answer=request.code, problem=request.problem or "no message")
    return text


def _field_lines(known: dict[str, Field], details: Sequence[dict[str, Any]]) -> list[str]:
    directions = {tuple(d.get("directions", ())) for d in details}
    only = next(iter(directions)) if len(directions) == 1 else ()
    parameters = _parameters(details)
    lines, steps, attributes = [], [], []
    for field in known.values():
        quoted = f'"{field.name}"'
        if field.kind == "number":
            lines.append(f"- {quoted}: 0, 1, 2, ... in the order the trials started")
        elif field.kind == "state":
            lines.append(f'- {quoted}: "Complete", "Pruned", "Fail", "Running" or "Waiting"')
        elif field.kind == "value":
            better = ""
            if len(only) == 1:
                better = f"; {'higher' if only[0] == 'maximize' else 'lower'} is better"
            lines.append(f"- {quoted}: {_objective(details)}{better}; complete trials only")
        elif field.kind == "values":
            index = int(field.key or 0)
            way = f" ({only[index]})" if index < len(only) else ""
            lines.append(f"- {quoted}: objective {index}{way}; complete trials only")
        elif field.kind == "duration":
            lines.append(f"- {quoted}: the seconds a trial took")
        elif field.kind == "param":
            described = parameters.get(str(field.key), "").strip("()")
            lines.append(f"- {quoted}: {described}" if described else f"- {quoted}")
        elif field.kind == "user_attr":
            attributes.append(quoted)
        elif field.kind == "step_value":
            steps.append(quoted)
        elif field.kind == "last_step_value":
            lines.append(f"- {quoted}: the last value a trial reported")
        elif field.kind == "reported":
            lines.append(
                f'- "{STEP}", {quoted}: each step a trial reported, and the value it reported'
            )
    if attributes:
        lines.append(f"- {', '.join(attributes)}: user attributes")
    if steps:
        lines.append(f"- {', '.join(steps)}: the value a trial reported at that step")
    return lines


def _example_category(details: Sequence[dict[str, Any]]) -> str:
    for detail in details:
        for entry in detail.get("union_search_space", ()):
            if entry.get("distribution", {}).get("type") == "CategoricalDistribution":
                return str(entry["name"])
    return _example_parameter(details)[0]


def retry(request: Request, code: str | None, problem: str | None) -> Request:
    """``request`` asked again after ``code`` (a function or a query) failed with ``problem``;
    with None, asked again afresh."""
    return replace(request, code=code, problem=problem)


def title_for(query: str) -> str:
    """A chart's title from the user's request: its first line, at most 50 characters."""
    text = " ".join(query.split())
    text = text[:1].upper() + text[1:]
    if len(text) > MAX_TITLE_CHARACTERS:
        cut = text[: MAX_TITLE_CHARACTERS - 1].rsplit(" ", 1)[0]
        text = cut.rstrip(" ,;:-") + "…"
    return text.rstrip(".") or "Study Visualization"


def _facts(details: Sequence[dict[str, Any]]) -> list[str]:
    facts = []
    directions = {tuple(d.get("directions", ())) for d in details}
    if len(directions) == 1:
        (only,) = directions
        if len(only) == 1:
            better = "higher" if only[0] == "maximize" else "lower"
            facts.append(f"- trial.value: {_objective(details)}; {better} is better ({only[0]})")
    parameters = _parameters(details)
    if parameters:
        named = list(parameters.items())[:_MAX_PARAMETERS]
        facts.append("- trial.params: " + "; ".join(f"{n} {d}".rstrip() for n, d in named))
    keys = _user_attr_keys(details)
    if keys:
        facts.append("- trial.user_attrs keys: " + ", ".join(f'"{k}"' for k in keys))
    return facts


def _objective(details: Sequence[dict[str, Any]]) -> str:
    """The objective as the studies name it (``set_metric_names``), if they agree on a name."""
    names = {tuple(d.get("objective_names") or ()) for d in details}
    if len(names) == 1:
        (only,) = names
        if len(only) == 1:
            return f'"{only[0]}"'
    return "the objective, by whatever name the user gives it (accuracy, loss, ...)"


def _parameters(details: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Each parameter of the studies, described by its first study that has it."""
    parameters: dict[str, str] = {}
    for detail in details:
        for entry in detail.get("union_search_space", ()):
            if entry["name"] not in parameters:
                parameters[entry["name"]] = _describe(entry.get("distribution", {}))
    return parameters


def _user_attr_keys(details: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({a["key"] for d in details for a in d.get("union_user_attrs", ())})


def _example_parameter(details: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """A numeric parameter of the studies and a bound within its range, for the examples."""
    for detail in details:
        for entry in detail.get("union_search_space", ()):
            distribution = entry.get("distribution", {})
            if distribution.get("type") in ("IntDistribution", "FloatDistribution"):
                low, high = float(distribution["low"]), float(distribution["high"])
                middle = (low + high) / 2
                bound = (
                    f"{round(middle)}"
                    if distribution["type"] == "IntDistribution"
                    else f"{middle:.3g}"
                )
                return entry["name"], bound
    return "x", "0"


def _describe(distribution: dict[str, Any]) -> str:
    kind = distribution.get("type")
    if kind == "CategoricalDistribution":
        choices = [_literal(c) for c in distribution.get("choices", ())]
        return "(one of " + ", ".join(choices[:_MAX_CHOICES]) + ")"
    if kind in ("IntDistribution", "FloatDistribution"):
        noun = "integer" if kind == "IntDistribution" else "number"
        scale = ", log scale" if distribution.get("log") else ""
        return f"({noun} from {distribution.get('low')} to {distribution.get('high')}{scale})"
    return ""


def _literal(choice: dict[str, Any]) -> str:
    """A categorical choice as the trial view holds it, written in JavaScript."""
    return json.dumps(choice_value(choice))
